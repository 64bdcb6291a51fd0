package toolcall

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ggufChatTemplate reads tokenizer.chat_template from a GGUF file's
// metadata. A minimal reader: prompts may not import the engine's.
func ggufChatTemplate(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var head struct {
		Magic   [4]byte
		Version uint32
		Tensors uint64
		KVs     uint64
	}
	if err := binary.Read(r, binary.LittleEndian, &head); err != nil {
		return "", err
	}
	if string(head.Magic[:]) != "GGUF" || head.Version < 2 {
		return "", errors.New("not a GGUF v2+ file")
	}
	readStr := func() (string, error) {
		var n uint64
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return "", err
		}
		if n > 1<<24 {
			return "", errors.New("string too long")
		}
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return string(b), err
	}
	fixed := map[uint32]int{0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
	var skip func(typ uint32) error
	skip = func(typ uint32) error {
		if n, ok := fixed[typ]; ok {
			_, err := r.Discard(n)
			return err
		}
		switch typ {
		case 8:
			_, err := readStr()
			return err
		case 9:
			var at uint32
			var n uint64
			if err := binary.Read(r, binary.LittleEndian, &at); err != nil {
				return err
			}
			if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
				return err
			}
			for i := uint64(0); i < n; i++ {
				if err := skip(at); err != nil {
					return err
				}
			}
			return nil
		}
		return fmt.Errorf("unknown GGUF type %d", typ)
	}
	for i := uint64(0); i < head.KVs; i++ {
		key, err := readStr()
		if err != nil {
			return "", err
		}
		var typ uint32
		if err := binary.Read(r, binary.LittleEndian, &typ); err != nil {
			return "", err
		}
		if key == "tokenizer.chat_template" && typ == 8 {
			return readStr()
		}
		if err := skip(typ); err != nil {
			return "", err
		}
	}
	return "", errors.New("no tokenizer.chat_template")
}
