// Package testutil holds what the tests and benchmarks of several accelq
// packages share.
package testutil
