package unix

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrNoAFALG is returned where the kernel has no AF_ALG sockets at all.
var ErrNoAFALG = errors.New("the kernel has no AF_ALG sockets (EAFNOSUPPORT)")

// ALG is one operation socket of the kernel's crypto API (AF_ALG): a bound
// algorithm, keyed if it needs a key, and the socket accepted from it that
// carries requests. It is not safe for concurrent use, as the kernel's
// operation socket is not.
type ALG struct {
	tfm, op int
}

// OpenALG binds an AF_ALG socket to the algorithm (typ "hash", "skcipher" or
// "aead"; name as in /proc/crypto, "gcm(aes)"), sets its key and, for an AEAD,
// its tag size, and accepts the operation socket.
func OpenALG(typ, name string, key []byte, authSize int) (*ALG, error) {
	tfm, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if errors.Is(err, unix.EAFNOSUPPORT) {
		return nil, ErrNoAFALG
	}
	if err != nil {
		return nil, fmt.Errorf("AF_ALG socket: %w", err)
	}
	a := &ALG{tfm: tfm, op: -1}
	if err := unix.Bind(tfm, &unix.SockaddrALG{Type: typ, Name: name}); err != nil {
		a.Close()
		return nil, fmt.Errorf("AF_ALG %s %q: %w", typ, name, err)
	}
	if key != nil {
		if err := unix.SetsockoptString(tfm, unix.SOL_ALG, unix.ALG_SET_KEY, string(key)); err != nil {
			a.Close()
			return nil, fmt.Errorf("AF_ALG %q key: %w", name, err)
		}
	}
	if authSize > 0 {
		// The tag size travels as the option's length, with no value.
		if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(tfm), unix.SOL_ALG, unix.ALG_SET_AEAD_AUTHSIZE, 0, uintptr(authSize), 0); e != 0 {
			a.Close()
			return nil, fmt.Errorf("AF_ALG %q tag size: %w", name, e)
		}
	}
	// x/sys's Accept cannot decode an AF_ALG address: accept by hand.
	op, _, e := unix.Syscall(unix.SYS_ACCEPT4, uintptr(tfm), 0, unix.SOCK_CLOEXEC)
	if e != 0 {
		a.Close()
		return nil, fmt.Errorf("AF_ALG %q accept: %w", name, e)
	}
	a.op = int(op)
	// A request the kernel cannot take (larger than the socket's buffer)
	// would block forever: bound every call.
	tv := unix.NsecToTimeval(int64(10 * time.Second))
	for _, opt := range []int{unix.SO_SNDTIMEO, unix.SO_RCVTIMEO} {
		if err := unix.SetsockoptTimeval(a.op, unix.SOL_SOCKET, opt, &tv); err != nil {
			a.Close()
			return nil, fmt.Errorf("AF_ALG %q timeout: %w", name, err)
		}
	}
	return a, nil
}

// MaxRequest returns the largest cipher request (associated data and
// input) the operation socket takes in one sendmsg, after asking the kernel
// for room for want bytes: the kernel holds a cipher request whole in the
// socket's send buffer, less a page of slack, and caps the buffer at
// net.core.wmem_max.
func (a *ALG) MaxRequest(want int) int {
	unix.SetsockoptInt(a.op, unix.SOL_SOCKET, unix.SO_SNDBUF, want+2*os.Getpagesize())
	n, err := unix.GetsockoptInt(a.op, unix.SOL_SOCKET, unix.SO_SNDBUF)
	if err != nil {
		return 0
	}
	return n - os.Getpagesize()
}

// Close closes both sockets.
func (a *ALG) Close() error {
	if a.op >= 0 {
		unix.Close(a.op)
	}
	return unix.Close(a.tfm)
}

// Hash writes data as one whole message and reads its digest into out.
func (a *ALG) Hash(data, out []byte) (int, error) {
	if _, err := unix.Write(a.op, data); err != nil {
		return 0, err
	}
	return unix.Read(a.op, out)
}

// Crypt runs one cipher request: the operation (encrypt or decrypt), the IV
// and, for an AEAD, the length of the associated data at the front of in,
// sent with in in one sendmsg; the result is read into out.
func (a *ALG) Crypt(encrypt bool, iv []byte, assocLen int, in, out []byte) (int, error) {
	dir := uint32(unix.ALG_OP_DECRYPT)
	if encrypt {
		dir = unix.ALG_OP_ENCRYPT
	}
	oob := make([]byte, 0, unix.CmsgSpace(4)*2+unix.CmsgSpace(4+len(iv)))
	oob = cmsg(oob, unix.ALG_SET_OP, binary.NativeEndian.AppendUint32(nil, dir))
	ivMsg := binary.NativeEndian.AppendUint32(nil, uint32(len(iv))) // struct af_alg_iv
	oob = cmsg(oob, unix.ALG_SET_IV, append(ivMsg, iv...))
	if assocLen > 0 {
		oob = cmsg(oob, unix.ALG_SET_AEAD_ASSOCLEN, binary.NativeEndian.AppendUint32(nil, uint32(assocLen)))
	}
	if _, err := unix.SendmsgN(a.op, in, oob, nil, 0); err != nil {
		return 0, err
	}
	return unix.Read(a.op, out)
}

// cmsg appends one SOL_ALG control message.
func cmsg(b []byte, typ int32, data []byte) []byte {
	n := len(b)
	b = append(b, make([]byte, unix.CmsgSpace(len(data)))...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[n]))
	h.Level = unix.SOL_ALG
	h.Type = typ
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[n+unix.CmsgLen(0):], data)
	return b
}
