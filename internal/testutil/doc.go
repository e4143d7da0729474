// Package testutil holds what the tests and benchmarks of several accelq
// packages share: a real acceld process to run against.
package testutil
