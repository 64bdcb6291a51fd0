package goengine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"natter/engine/gguf"
)

// Ollama's ggml loader places every tensor whose name holds a number and
// does not start with "v.", "mm." or "s." in the repeating layer of that
// number, among <arch>.block_count layers. Projector files have no
// clip.block_count, so the loader indexes an empty list on the first
// audio tensor ("a.blk.0…", "a.conv1d.0…") and panics: a projector with
// Gemma 4's audio encoder cannot be opened as it is. natter then opens a
// copy made once in its cache, the same file with clip.block_count added
// (and a padding key, so the tensor data keeps its offset modulo 4096 and
// filesystems that share extents can clone it). The user's file is only
// read.

// projectorCopyPad is the padding key natter adds beside clip.block_count.
const projectorCopyPad = "natter.padding"

// layeredBlocks is the number of layers Ollama's loader needs for the
// projector's tensors, 0 when it needs none (or the file says enough).
func layeredBlocks(f *gguf.File) int {
	need := 0
	for _, t := range f.Tensors {
		n := t.Name
		if strings.HasPrefix(n, "v.") || strings.HasPrefix(n, "mm.") || strings.HasPrefix(n, "s.") {
			continue
		}
		fields := strings.FieldsFunc(n, func(r rune) bool { return !unicode.IsNumber(r) })
		if len(fields) == 0 {
			continue
		}
		if i, err := strconv.Atoi(fields[0]); err == nil {
			need = max(need, i+1)
		}
	}
	if have, ok := f.Uint("clip.block_count"); ok && int(have) >= need {
		return 0
	}
	return need
}

// ProjectorCopy is a loadable copy natter made of a projector.
type ProjectorCopy struct {
	Path    string
	Size    int64
	Created bool // made by this load (else reused)
}

// loadableProjector returns the path Ollama's loader can open for the
// projector at path (already read as f): path itself, or a copy in
// cacheDir.
func loadableProjector(path string, f *gguf.File, cacheDir string) (string, *ProjectorCopy, error) {
	blocks := layeredBlocks(f)
	if blocks == 0 {
		return path, nil, nil
	}
	if f.Version < 2 {
		return "", nil, fmt.Errorf("%s: GGUF version %d is too old for natter to copy", path, f.Version)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", nil, err
	}
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", nil, fmt.Errorf("%s: Ollama's loader needs a copy with clip.block_count, but there is no cache folder: %w", path, err)
		}
		cacheDir = filepath.Join(base, "natter", "projectors")
	}
	abs, _ := filepath.Abs(path)
	h := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d\x00%d", abs, st.Size(), st.ModTime().UnixNano(), blocks)))
	name := strings.TrimSuffix(filepath.Base(path), ".gguf") + "-" + hex.EncodeToString(h[:6]) + ".gguf"
	out := filepath.Join(cacheDir, name)
	kvs := projectorCopyKVs(blocks, int64(f.Alignment))
	want := st.Size() + int64(len(kvs))
	if cst, err := os.Stat(out); err == nil && cst.Size() == want {
		return out, &ProjectorCopy{Path: out, Size: want}, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("making a loadable copy of %s: %w", path, err)
	}
	if err := writeProjectorCopy(path, out, f, kvs); err != nil {
		return "", nil, fmt.Errorf("making a loadable copy of %s in %s: %w", path, cacheDir, err)
	}
	return out, &ProjectorCopy{Path: out, Size: want, Created: true}, nil
}

// projectorCopyKVs encodes clip.block_count = blocks and a padding string
// that makes the two a multiple of 4096 bytes (and of the alignment).
func projectorCopyKVs(blocks int, align int64) []byte {
	kv := func(b []byte, key string, typ uint32) []byte {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(key)))
		b = append(b, key...)
		return binary.LittleEndian.AppendUint32(b, typ)
	}
	const ggufU32, ggufString = 4, 8
	b := kv(nil, "clip.block_count", ggufU32)
	b = binary.LittleEndian.AppendUint32(b, uint32(blocks))
	b = kv(b, projectorCopyPad, ggufString)
	unit := int64(4096)
	for unit%align != 0 {
		unit += 4096
	}
	pad := (unit - (int64(len(b))+8)%unit) % unit
	b = binary.LittleEndian.AppendUint64(b, uint64(pad))
	return append(b, make([]byte, pad)...)
}

// writeProjectorCopy writes src with kvs inserted after the header's
// counts (the key count raised by two) to out, atomically.
func writeProjectorCopy(src, out string, f *gguf.File, kvs []byte) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	head := make([]byte, f.DataOffset)
	if _, err := io.ReadFull(in, head); err != nil {
		return err
	}
	if len(head) < 24 {
		return errors.New("the header is too short")
	}
	binary.LittleEndian.PutUint64(head[16:24], binary.LittleEndian.Uint64(head[16:24])+2)
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	for _, b := range [][]byte{head[:24], kvs, head[24:]} {
		if _, err := tmp.Write(b); err != nil {
			return err
		}
	}
	// The rest is the tensor data as it is (copy_file_range where it can).
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}
