// Package unix holds the few Linux system calls accelq makes: memfd regions with
// seals, shared mappings, futexes on shared words, eventfds and an epoll set of
// them.
//
// Everything else in accelq reaches the kernel through this package, so the set of
// system calls the project depends on can be read in one place.
package unix
