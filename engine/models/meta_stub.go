package models

// TEMPORARY until natter/engine/gguf lands: only the magic is checked.

import (
	"bytes"
	"errors"
	"os"
)

func ReadMeta(path string) (*Meta, error) {
	if err := ValidateGGUF(path); err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	return &Meta{FileSize: fi.Size()}, nil
}

func ValidateGGUF(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 4)
	if _, err := f.Read(b); err != nil || !bytes.Equal(b, []byte("GGUF")) {
		return errors.New("not GGUF")
	}
	return nil
}
