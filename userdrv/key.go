package userdrv

import (
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/accelq/accelq/device"
)

// Key is a key held by the driver, referenced by handle in jobs. The driver
// never gives its material back. For software fallback the library keeps a
// parsed copy in this process unless the key was imported WithoutSoftwareCopy.
type Key struct {
	dev    *Device
	handle uint32
	kind   device.KeyKind
	soft   *device.Key      // for software fallback; nil when none is kept
	parsed *device.Key      // what the key is, for choosing operations and Public
	public crypto.PublicKey // asymmetric keys
}

// KeyOption configures an imported key.
type KeyOption func(*keyConfig)

type keyConfig struct{ noSoftCopy bool }

// WithoutSoftwareCopy keeps no copy of the key in this process: jobs with it can
// run only on the device, never in software.
func WithoutSoftwareCopy() KeyOption { return func(c *keyConfig) { c.noSoftCopy = true } }

// ImportKey imports key material of the given kind (see device.KeyKind for the
// encodings). The caller should zero its own copy afterwards.
func (d *Device) ImportKey(kind device.KeyKind, material []byte, opts ...KeyOption) (*Key, error) {
	var cfg keyConfig
	for _, o := range opts {
		o(&cfg)
	}
	parsed, err := device.ParseKey(kind, material)
	if err != nil {
		return nil, err
	}
	k := &Key{dev: d, kind: kind, parsed: parsed, public: parsed.Public()}
	if !cfg.noSoftCopy {
		k.soft = parsed
	}
	if d.be != nil {
		if k.handle, err = d.be.importKey(kind, material); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// ImportPrivateKey imports an *rsa.PrivateKey, *ecdsa.PrivateKey,
// ed25519.PrivateKey or X25519 *ecdh.PrivateKey.
func (d *Device) ImportPrivateKey(priv crypto.PrivateKey, opts ...KeyOption) (*Key, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("userdrv: %w", err)
	}
	defer clear(der)
	return d.ImportKey(device.KeyPrivate, der, opts...)
}

// Public returns the public half of an asymmetric key.
func (k *Key) Public() crypto.PublicKey { return k.public }

// Kind returns the kind the key was imported as.
func (k *Key) Kind() device.KeyKind { return k.kind }

// Bits returns the key size in bits.
func (k *Key) Bits() int { return k.parsed.Bits() }

// Destroy destroys the key on the driver and drops the software copy.
func (k *Key) Destroy() error {
	var err error
	if k.dev.be != nil && k.handle != 0 {
		err = k.dev.be.destroyKey(k.handle)
	}
	k.handle = 0
	if k.soft != nil {
		k.soft.Destroy()
		k.soft = nil
	}
	return err
}
