package driver

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

func TestKeyZeroedAfterLastUnpin(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	material := bytes.Repeat([]byte{0xa5}, 32)
	h, err := c.ImportKey(device.KeyHMAC, material)
	if err != nil {
		t.Fatal(err)
	}
	k, pin, st := c.space.Key(h)
	if st != ring.StatusOK {
		t.Fatal(st)
	}
	secret := k.Secret() // the device's view; aliases the slot's copy
	if !bytes.Equal(secret, material) {
		t.Fatal("imported key differs from its material")
	}
	material[0] = 0 // the driver copied the material
	if secret[0] != 0xa5 {
		t.Fatal("the key aliases the caller's material")
	}
	if err := c.DestroyKey(h); err != nil {
		t.Fatal(err)
	}
	if _, _, st := c.space.Key(h); st != ring.StatusNotPermitted {
		t.Fatalf("lookup of a destroyed key: %v, want not permitted", st)
	}
	if err := c.DestroyKey(h); !errors.Is(err, ErrBadHandle) {
		t.Fatalf("second destroy: %v, want ErrBadHandle", err)
	}
	if !bytes.Equal(secret, bytes.Repeat([]byte{0xa5}, 32)) {
		t.Fatal("key zeroed while a job still holds it")
	}
	if n := c.nkeys.Load(); n != 1 {
		t.Fatalf("pinned key counts %d, want 1", n)
	}
	pin.Unpin()
	if !bytes.Equal(secret, make([]byte, 32)) {
		t.Fatalf("key material not zeroed after the last unpin: %x", secret)
	}
	if !pin.(*keySlot).destroyed.Load() {
		t.Fatal("slot not marked destroyed")
	}
	if n := c.nkeys.Load(); n != 0 {
		t.Fatalf("released key still counts: %d", n)
	}
}

func TestCloseZeroesKeys(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	h, err := c.ImportKey(device.KeyAES, bytes.Repeat([]byte{7}, 16))
	if err != nil {
		t.Fatal(err)
	}
	k, pin, _ := c.space.Key(h)
	secret := k.Secret()
	pin.Unpin()
	c.Close()
	if !bytes.Equal(secret, make([]byte, 16)) {
		t.Fatalf("key not zeroed by Close: %x", secret)
	}
	if _, err := c.ImportKey(device.KeyAES, make([]byte, 16)); !errors.Is(err, ErrClosed) {
		t.Fatalf("import on a closed context: %v, want ErrClosed", err)
	}
}

func TestImportBadKey(t *testing.T) {
	d := New(newFakeDevice(), nil)
	c := openCtx(t, d, 1000)
	for _, tc := range []struct {
		kind     device.KeyKind
		material []byte
	}{
		{device.KeyAES, make([]byte, 15)},
		{device.KeyHMAC, nil},
		{device.KeyPrivate, []byte("not DER")},
		{device.KeyKind(99), make([]byte, 16)},
	} {
		if _, err := c.ImportKey(tc.kind, tc.material); !errors.Is(err, device.ErrBadKey) {
			t.Errorf("import of a bad %v key: %v, want device.ErrBadKey", tc.kind, err)
		} else {
			t.Log(err)
		}
	}
	if n := c.nkeys.Load(); n != 0 {
		t.Fatalf("refused imports count %d keys", n)
	}
}

// TestNoAPIReturnsKeys checks that no exported method of the driver's types
// returns key material or anything that leads to it (a *device.Key or an
// address space).
func TestNoAPIReturnsKeys(t *testing.T) {
	forbidden := []reflect.Type{
		reflect.TypeFor[*device.Key](),
		reflect.TypeFor[device.Key](),
		reflect.TypeFor[device.AddressSpace](),
	}
	var leaks func(reflect.Type, map[reflect.Type]bool) bool
	leaks = func(t reflect.Type, seen map[reflect.Type]bool) bool {
		if seen[t] {
			return false
		}
		seen[t] = true
		for _, f := range forbidden {
			if t == f {
				return true
			}
		}
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Chan:
			return leaks(t.Elem(), seen)
		case reflect.Map:
			return leaks(t.Key(), seen) || leaks(t.Elem(), seen)
		case reflect.Struct:
			for i := range t.NumField() {
				if t.Field(i).IsExported() && leaks(t.Field(i).Type, seen) {
					return true
				}
			}
		case reflect.Func:
			for i := range t.NumOut() {
				if leaks(t.Out(i), seen) {
					return true
				}
			}
		}
		return false
	}
	for _, typ := range []reflect.Type{
		reflect.TypeFor[*Driver](), reflect.TypeFor[*Context](), reflect.TypeFor[*Queue](),
		reflect.TypeFor[*Policy](), reflect.TypeFor[Info](), reflect.TypeFor[Rule](),
	} {
		for i := range typ.NumMethod() {
			m := typ.Method(i)
			for j := range m.Type.NumOut() {
				if leaks(m.Type.Out(j), map[reflect.Type]bool{}) {
					t.Errorf("%v.%s returns %v, which reaches key material", typ, m.Name, m.Type.Out(j))
				}
			}
		}
	}
}
