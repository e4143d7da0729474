package iouring

import (
	"testing"
	"unsafe"
)

// TestLayout pins the structs to the kernel ABI: io_uring_setup copies exactly
// sizeof(struct io_uring_params) bytes, and the kernel indexes SQEs and CQEs
// by their C sizes, so any drift corrupts memory shared with the kernel.
func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"io_sqring_offsets", unsafe.Sizeof(sqringOffsets{}), 40},
		{"io_cqring_offsets", unsafe.Sizeof(cqringOffsets{}), 40},
		{"io_uring_params", unsafe.Sizeof(params{}), 120},
		{"io_uring_sqe", unsafe.Sizeof(sqe{}), 64},
		{"io_uring_cqe", unsafe.Sizeof(cqe{}), 16},
	} {
		if c.got != c.want {
			t.Errorf("sizeof(struct %s) = %d, want %d", c.name, c.got, c.want)
		}
	}

	// The fields the kernel reads or writes for a NOP, at their C offsets.
	var p params
	var s sqe
	var c cqe
	for _, o := range []struct {
		name      string
		got, want uintptr
	}{
		{"io_uring_params.features", unsafe.Offsetof(p.features), 20},
		{"io_uring_params.sq_off", unsafe.Offsetof(p.sqOff), 40},
		{"io_uring_params.cq_off", unsafe.Offsetof(p.cqOff), 80},
		{"io_sqring_offsets.array", unsafe.Offsetof(p.sqOff.array), 24},
		{"io_sqring_offsets.user_addr", unsafe.Offsetof(p.sqOff.userAddr), 32},
		{"io_cqring_offsets.cqes", unsafe.Offsetof(p.cqOff.cqes), 20},
		{"io_cqring_offsets.user_addr", unsafe.Offsetof(p.cqOff.userAddr), 32},
		{"io_uring_sqe.fd", unsafe.Offsetof(s.fd), 4},
		{"io_uring_sqe.len", unsafe.Offsetof(s.len), 24},
		{"io_uring_sqe.user_data", unsafe.Offsetof(s.userData), 32},
		{"io_uring_sqe.buf_index", unsafe.Offsetof(s.bufIndex), 40},
		{"io_uring_sqe.splice_fd_in", unsafe.Offsetof(s.spliceFdIn), 44},
		{"io_uring_sqe.addr3", unsafe.Offsetof(s.addr3), 48},
		{"io_uring_cqe.res", unsafe.Offsetof(c.res), 8},
		{"io_uring_cqe.flags", unsafe.Offsetof(c.flags), 12},
	} {
		if o.got != o.want {
			t.Errorf("offsetof(%s) = %d, want %d", o.name, o.got, o.want)
		}
	}
}
