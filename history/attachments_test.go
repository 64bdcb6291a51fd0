package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/prompts"
)

func attachment(kind, name, format string, data []byte) prompts.Attachment {
	return prompts.Attachment{Kind: kind, Name: name, Format: format, SHA256: sumOf(data), Size: int64(len(data)), Data: data}
}

// sameBytes: the saved attachments are want, bytes included.
func sameBytes(got []Attachment, want ...prompts.Attachment) bool {
	if len(got) != len(want) {
		return false
	}
	for i, g := range got {
		w := want[i]
		if g.Missing || g.Data == nil || !bytes.Equal(g.Data, w.Data) || g.Kind != w.Kind || g.Name != w.Name ||
			g.SHA256 != w.SHA256 || g.Format != w.Format || g.Size != w.Size {
			return false
		}
	}
	return true
}

// describe shows messages without their bytes, for failures.
func describe(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "\n  #%d %s %q", m.ID, m.Role, m.Content)
		for _, a := range m.Media {
			fmt.Fprintf(&b, " [%s %s %.8s size=%d data=%d missing=%v]", a.Kind, a.Name, a.SHA256, a.Size, len(a.Data), a.Missing)
		}
	}
	return b.String()
}

// blobFiles lists the files under the attachment folder (temp files too).
func blobFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// mediaChat is a chat with two messages sharing one image and one with
// audio, as the UI records it, and a reply that returns an image.
func mediaChat(t *testing.T, s *Store) (int64, prompts.Attachment, prompts.Attachment, []prompts.Message) {
	t.Helper()
	img := attachment(prompts.MediaImage, "receipt.png", "png", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 30000)...))
	wav := attachment(prompts.MediaAudio, "memo.wav", "wav", append([]byte("RIFF....WAVE"), bytes.Repeat([]byte("la"), 5000)...))
	again := img
	again.Name = "receipt copy.png" // same bytes under another name
	turns := []prompts.Message{
		{Role: prompts.RoleUser, Content: "what is the total?", Media: []prompts.Attachment{img}},
		asst("12.50"),
		{Role: prompts.RoleUser, Content: "and this one, with the memo?", Media: []prompts.Attachment{again, wav}},
		{Role: prompts.RoleAssistant, Content: "here it is, cropped", Media: []prompts.Attachment{img}},
	}
	r := s.NewRecorder(ChatMeta{})
	must(t, r.NewChat("vision", ""))
	must(t, r.Append(turns[0]))
	must(t, r.Finish(turns[1], &api.Stats{StopReason: api.StopEOG}, api.StopEOG))
	must(t, r.Append(turns[2]))
	must(t, r.Checkpoint(asst("here")))
	must(t, r.Finish(turns[3], &api.Stats{StopReason: api.StopEOG}, api.StopEOG))
	return r.ChatID(), img, wav, turns
}

func TestAttachmentsRoundTrip(t *testing.T) {
	s, path := openTemp(t)
	id, img, wav, turns := mediaChat(t, s)
	again := turns[2].Media[0]
	dir := AttachmentDir(path)

	// One file per distinct hash, private, named by the hash.
	files := blobFiles(t, dir)
	if len(files) != 2 {
		t.Fatalf("blob files = %v, want one per distinct hash", files)
	}
	for _, want := range []string{blobPath(dir, img.SHA256), blobPath(dir, wav.SHA256)} {
		st, err := os.Stat(want)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", want, st, err)
		}
		if st, err := os.Stat(filepath.Dir(want)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v", filepath.Dir(want), st, err)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v", dir, st, err)
	}
	s.Close()

	// Another Store (another natter) restores every byte.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	c, err := s2.Get(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 4 || !sameBytes(c.Messages[0].Media, img) || c.Messages[1].Media != nil ||
		!sameBytes(c.Messages[2].Media, again, wav) || !sameBytes(c.Messages[3].Media, img) {
		t.Fatalf("messages = %s", describe(c.Messages))
	}
	if c.Messages[0].Media[0].Path != blobPath(dir, img.SHA256) {
		t.Errorf("path = %q", c.Messages[0].Media[0].Path)
	}
	pm := c.PromptMessages()
	if len(pm) != 4 || !bytes.Equal(pm[2].Media[1].Data, wav.Data) || pm[2].Media[0].Name != "receipt copy.png" {
		t.Fatalf("prompt messages: %d, %d attachments in the third", len(pm), len(pm[min(2, len(pm)-1)].Media))
	}
	if m := MissingAttachments(pm); m != nil {
		t.Errorf("missing = %d attachments", len(m))
	}
	// A message with an image and no text is a turn too.
	only := prompts.Message{Role: prompts.RoleUser, Media: []prompts.Attachment{wav}}
	mustAdd(t, s2, id, only)
	c, _ = s2.Get(bg, id)
	if pm := c.PromptMessages(); len(pm) != 5 || len(pm[4].Media) != 1 {
		t.Errorf("attachment-only turn dropped: %d prompt messages", len(pm))
	}

	// Resumed and rewritten (/retry) as the UI does: unchanged rows stay,
	// an edited attachment makes a new row, no blob is written twice.
	before, _ := os.Stat(blobPath(dir, img.SHA256))
	r, c, err := s2.ResumeRecorder(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	msgs := c.PromptMessages()
	ids := []int64{c.Messages[0].ID, c.Messages[2].ID}
	must(t, r.Rewrite(msgs[:3]))
	c, _ = s2.Get(bg, id)
	if len(c.Messages) != 3 || c.Messages[0].ID != ids[0] || c.Messages[2].ID != ids[1] || !sameBytes(c.Messages[2].Media, again, wav) {
		t.Fatalf("after rewrite: %s", describe(c.Messages))
	}
	edited := msgs[:3]
	edited[2].Media = edited[2].Media[1:] // the image taken off
	must(t, r.Rewrite(edited))
	c, _ = s2.Get(bg, id)
	if len(c.Messages) != 3 || c.Messages[2].ID == ids[1] || !sameBytes(c.Messages[2].Media, wav) {
		t.Fatalf("after removing an attachment: %s", describe(c.Messages))
	}
	if after, err := os.Stat(blobPath(dir, img.SHA256)); err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("shared blob was rewritten or removed: %v", err)
	}
	if files := blobFiles(t, dir); len(files) != 2 {
		t.Errorf("blob files = %v", files)
	}
}

// A blob deleted or damaged on disk loses the bytes of that attachment
// only: the chat loads, and callers can tell which are missing.
func TestMissingBlob(t *testing.T) {
	s, path := openTemp(t)
	id, img, wav, _ := mediaChat(t, s)
	dir := AttachmentDir(path)
	if err := os.Remove(blobPath(dir, img.SHA256)); err != nil {
		t.Fatal(err)
	}
	// Same size, other bytes: found by the hash check.
	bad := bytes.Repeat([]byte("x"), len(wav.Data))
	if err := os.WriteFile(blobPath(dir, wav.SHA256), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	r, c, err := s.ResumeRecorder(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 4 || c.Messages[0].Content != "what is the total?" {
		t.Fatalf("chat = %s", describe(c.Messages))
	}
	for _, m := range []Message{c.Messages[0], c.Messages[2], c.Messages[3]} {
		for _, a := range m.Media {
			if !a.Missing || a.Data != nil || a.Path == "" || a.SHA256 == "" || a.Size == 0 {
				t.Errorf("attachment not reported missing: %s", describe([]Message{m}))
			}
		}
	}
	pm := c.PromptMessages()
	missing := MissingAttachments(pm)
	if len(missing) != 4 || missing[0].Name != "receipt.png" || missing[2].Name != "memo.wav" {
		t.Fatalf("missing = %d attachments", len(missing))
	}

	// The chat goes on and is saved with its attachments' metadata, even
	// without their bytes.
	must(t, r.Rewrite(append(pm[:3:3], user("never mind"))))
	c, _ = s.Get(bg, id)
	if len(c.Messages) != 4 || len(c.Messages[2].Media) != 2 || !c.Messages[2].Media[1].Missing {
		t.Fatalf("after rewrite: %s", describe(c.Messages))
	}
	var md bytes.Buffer
	if err := s.Export(bg, id, "md", &md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "📎 receipt.png (image, 120 kB, sha256 "+img.SHA256[:12]+"…) *missing* (expected at `"+blobPath(dir, img.SHA256)+"`)\n") {
		t.Errorf("export of a missing attachment:\n%s", md.String())
	}

	// Sending the bytes again puts them back (a damaged file replaced).
	mustAdd(t, s, id, prompts.Message{Role: prompts.RoleUser, Content: "again", Media: []prompts.Attachment{img, wav}})
	c, _ = s.Get(bg, id)
	if !sameBytes(c.Messages[0].Media, img) || !sameBytes(c.Messages[2].Media, turns2(img, wav)...) || !sameBytes(c.Messages[4].Media, img, wav) {
		t.Errorf("after re-attaching: %s", describe(c.Messages))
	}
	if m := MissingAttachments(c.PromptMessages()); m != nil {
		t.Errorf("still missing: %d", len(m))
	}
}

func turns2(img, wav prompts.Attachment) []prompts.Attachment {
	img.Name = "receipt copy.png"
	return []prompts.Attachment{img, wav}
}

// Bytes that do not match their hash, a hash that is not one, or a file
// over the cap are refused, and nothing is written.
func TestAttachmentRefused(t *testing.T) {
	s, path := openTemp(t)
	id := mustChat(t, s, ChatMeta{})
	good := attachment(prompts.MediaImage, "a.png", "png", []byte("the real bytes"))
	wrong := good
	wrong.Data = []byte("other bytes!!!")
	traversal := good
	traversal.Data, traversal.SHA256 = nil, "../../../etc/passwd"
	short := good
	short.Size = 3
	defer func(old int64) { maxAttachment = old }(maxAttachment)
	maxAttachment = 16
	big := attachment(prompts.MediaAudio, "long.wav", "wav", bytes.Repeat([]byte("a"), 17))

	for _, tc := range []struct {
		a    prompts.Attachment
		want error
	}{{wrong, ErrAttachmentHash}, {traversal, ErrAttachmentHash}, {big, ErrAttachmentTooLarge}, {short, nil}} {
		m := prompts.Message{Role: prompts.RoleUser, Content: "look", Media: []prompts.Attachment{good, tc.a}}
		_, err := s.AddMessage(bg, id, m, MessageMeta{})
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.a.Name, err, tc.want)
		}
		if err := s.ReplaceMessages(bg, id, []prompts.Message{m}); err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: ReplaceMessages err = %v", tc.a.Name, err)
		}
		r := s.NewRecorder(ChatMeta{})
		must(t, r.Append(user("q")))
		if err := r.Finish(prompts.Message{Role: prompts.RoleAssistant, Content: "x", Media: []prompts.Attachment{tc.a}}, nil, api.StopEOG); err == nil {
			t.Errorf("%s: reply with a bad attachment saved", tc.a.Name)
		}
	}
	if c, _ := s.Get(bg, id); len(c.Messages) != 0 {
		t.Errorf("refused messages saved: %s", describe(c.Messages))
	}
	if files := blobFiles(t, AttachmentDir(path)); len(files) != 0 {
		t.Errorf("refused attachments wrote %v", files)
	}
	if !strings.Contains(ErrAttachmentTooLarge.Error(), "512 MiB") {
		t.Error(ErrAttachmentTooLarge)
	}
}

func TestExportAttachments(t *testing.T) {
	s, path := openTemp(t)
	id, img, wav, _ := mediaChat(t, s)
	dir := AttachmentDir(path)
	ref := func(a prompts.Attachment, size string) string {
		return "📎 " + strings.ReplaceAll(a.Name, "*", `\*`) + " (" + a.Kind + ", " + size + ", sha256 " + a.SHA256[:12] + "…) at `" + blobPath(dir, a.SHA256) + "`"
	}
	copyName := img
	copyName.Name = "receipt copy.png"

	code, md, _ := run(t, s, "export", strconv.FormatInt(id, 10), "--format", "md")
	for _, want := range []string{
		"## User\n\n" + ref(img, "120 kB") + "\n\nwhat is the total?\n",
		"## User\n\n" + ref(copyName, "120 kB") + "\n\n" + ref(wav, "10 kB") + "\n\nand this one, with the memo?\n",
		"## Assistant\n\n" + ref(img, "120 kB") + "\n\nhere it is, cropped\n",
		"## Assistant\n\n12.50\n",
	} {
		if code != 0 || !strings.Contains(md, want) {
			t.Errorf("export md lacks %q:\n%s", want, md)
		}
	}

	for _, args := range [][]string{{"export", strconv.FormatInt(id, 10), "--format", "json"}, {"show", strconv.FormatInt(id, 10), "--json"}} {
		code, raw, _ := run(t, s, args...)
		var c Chat
		if err := json.Unmarshal([]byte(raw), &c); code != 0 || err != nil {
			t.Fatalf("%v: %d %v", args, code, err)
		}
		a := c.Messages[2].Media[1]
		if a.Kind != "audio" || a.Name != "memo.wav" || a.SHA256 != wav.SHA256 || a.Format != "wav" || a.Size != wav.Size ||
			a.Path != blobPath(dir, wav.SHA256) || a.Missing || a.Data != nil {
			t.Errorf("%v: attachment = %+v", args, a)
		}
		for _, key := range []string{`"media": [`, `"kind": "image"`, `"sha256": "` + img.SHA256 + `"`, `"format": "png"`, `"size": 120008`, `"path": "` + blobPath(dir, img.SHA256) + `"`} {
			if !strings.Contains(raw, key) {
				t.Errorf("%v: no %s in\n%s", args, key, raw)
			}
		}
		if strings.Contains(raw, "missing") {
			t.Errorf("%v: present attachments marked missing", args)
		}
	}

	// A name that is Markdown stays literal; no path without a disk.
	mem, _ := OpenMemory()
	defer mem.Close()
	mid := mustChat(t, mem, ChatMeta{})
	odd := attachment(prompts.MediaImage, "*bold*.png", "png", []byte("x"))
	mustAdd(t, mem, mid, prompts.Message{Role: prompts.RoleUser, Media: []prompts.Attachment{odd}})
	var out bytes.Buffer
	if err := mem.Export(bg, mid, "md", &out); err != nil {
		t.Fatal(err)
	}
	if want := "## User\n\n📎 \\*bold\\*.png (image, 1 B, sha256 " + odd.SHA256[:12] + "…)\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("memory export = %q, want suffix %q", out.String(), want)
	}
}

// Deleting a chat removes the blobs only it used; shared ones stay.
func TestDeleteCollectsUnsharedBlobs(t *testing.T) {
	s, path := openTemp(t)
	dir := AttachmentDir(path)
	shared := attachment(prompts.MediaImage, "logo.png", "png", []byte("shared logo"))
	own := attachment(prompts.MediaImage, "mine.png", "png", []byte("only in chat a"))
	later := attachment(prompts.MediaAudio, "undo.wav", "wav", []byte("undone audio"))
	a := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, a, prompts.Message{Role: prompts.RoleUser, Content: "a", Media: []prompts.Attachment{shared, own}})
	b := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, b, prompts.Message{Role: prompts.RoleUser, Content: "b", Media: []prompts.Attachment{shared}})
	mustAdd(t, s, b, prompts.Message{Role: prompts.RoleUser, Content: "b2", Media: []prompts.Attachment{later}})
	if n := len(blobFiles(t, dir)); n != 3 {
		t.Fatalf("%d blobs", n)
	}

	must(t, s.Delete(bg, a))
	if _, err := os.Stat(blobPath(dir, own.SHA256)); !os.IsNotExist(err) {
		t.Errorf("unshared blob kept: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(blobPath(dir, own.SHA256))); !os.IsNotExist(err) && own.SHA256[:2] != shared.SHA256[:2] && own.SHA256[:2] != later.SHA256[:2] {
		t.Errorf("empty fan-out folder kept: %v", err)
	}
	c, err := s.Get(bg, b)
	if err != nil || !sameBytes(c.Messages[0].Media, shared) {
		t.Fatalf("shared blob lost: %v %s", err, describe(c.Messages))
	}

	// /undo drops a message: its blob goes, unless still referred to.
	must(t, s.ReplaceMessages(bg, b, c.PromptMessages()[:1]))
	if _, err := os.Stat(blobPath(dir, later.SHA256)); !os.IsNotExist(err) {
		t.Errorf("blob of an undone message kept: %v", err)
	}
	if _, err := os.Stat(blobPath(dir, shared.SHA256)); err != nil {
		t.Errorf("shared blob removed by undo: %v", err)
	}

	must(t, s.Delete(bg, b))
	if files := blobFiles(t, dir); len(files) != 0 {
		t.Errorf("blobs left after every chat went: %v", files)
	}
}

// A private store keeps attachments in memory and never writes a file.
func TestAttachmentsInMemoryStore(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, img, wav, _ := mediaChat(t, s)
	c, err := s.Get(bg, id)
	if err != nil || !sameBytes(c.Messages[0].Media, img) || !sameBytes(c.Messages[2].Media, turns2(img, wav)...) {
		t.Fatalf("memory chat: %v %s", err, describe(c.Messages))
	}
	if c.Messages[0].Media[0].Path != "" {
		t.Errorf("path in memory = %q", c.Messages[0].Media[0].Path)
	}
	if files := blobFiles(t, "."); len(files) != 0 {
		t.Errorf("memory store wrote %v", files)
	}
	must(t, s.Delete(bg, id))
	if len(s.memBlobs) != 0 {
		t.Errorf("%d blobs kept in memory after delete", len(s.memBlobs))
	}
}

// A store that fell back to memory reads the blobs already on disk, keeps
// new ones in memory, and leaves the disk as it was.
func TestAttachmentsReadOnlyDisk(t *testing.T) {
	dir, makeRO, makeRW := readOnlyDir(t)
	path := filepath.Join(dir, "natter", "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id, img, _, _ := mediaChat(t, s)
	s.Close()
	before := blobFiles(t, AttachmentDir(path))

	makeRO()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Persistent() {
		t.Fatal("read-only store is persistent")
	}
	s.TakeWarning()
	c, err := s.Get(bg, id)
	if err != nil || !sameBytes(c.Messages[0].Media, img) {
		t.Fatalf("old attachment on a read-only disk: %v %s", err, describe(c.Messages))
	}
	fresh := attachment(prompts.MediaImage, "new.png", "png", []byte("new while read-only"))
	mustAdd(t, s, id, prompts.Message{Role: prompts.RoleUser, Content: "new", Media: []prompts.Attachment{fresh}})
	c, _ = s.Get(bg, id)
	if !sameBytes(c.Messages[4].Media, fresh) || c.Messages[4].Media[0].Path != "" {
		t.Errorf("attachment kept in memory: %s", describe(c.Messages))
	}
	// Deleting the chat in memory must not touch the blobs on disk.
	must(t, s.Delete(bg, id))
	s.Close()
	makeRW()
	if after := blobFiles(t, AttachmentDir(path)); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("blobs on disk changed: %v -> %v", before, after)
	}
}

// The disk filling up mid-chat: blobs too go on in memory.
func TestAttachmentsAfterDiskFills(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := OpenOptions(path, Options{maxPageCount: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chat := mustChat(t, s, ChatMeta{})
	fillUntilMemory(t, s, chat, 2000)
	img := attachment(prompts.MediaImage, "late.png", "png", []byte("after the disk filled"))
	mustAdd(t, s, chat, prompts.Message{Role: prompts.RoleUser, Media: []prompts.Attachment{img}})
	c, err := s.Get(bg, chat)
	if err != nil || !sameBytes(c.Messages[len(c.Messages)-1].Media, img) {
		t.Fatalf("attachment after the disk filled: %v", err)
	}
	if _, err := os.Stat(blobPath(AttachmentDir(path), img.SHA256)); !os.IsNotExist(err) {
		t.Errorf("blob written to disk by a store in memory: %v", err)
	}
}

// Another natter deleting the last chat that used a blob, between this
// one's writing the blob and its row: the row must not end up pointing
// at nothing. The check under the write lock writes the blob again.
func TestGarbageCollectionRacesAWriter(t *testing.T) {
	s1, path := openTemp(t)
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	img := attachment(prompts.MediaImage, "both.png", "png", []byte("wanted by two natters"))
	old := mustChat(t, s1, ChatMeta{})
	mustAdd(t, s1, old, prompts.Message{Role: prompts.RoleUser, Content: "old", Media: []prompts.Attachment{img}})
	chat := mustChat(t, s2, ChatMeta{})
	afterPreWrite = func() {
		afterPreWrite = nil
		must(t, s1.Delete(bg, old))
		if _, err := os.Stat(blobPath(AttachmentDir(path), img.SHA256)); !os.IsNotExist(err) {
			t.Fatalf("setup: the blob was not collected: %v", err)
		}
	}
	defer func() { afterPreWrite = nil }()
	mustAdd(t, s2, chat, prompts.Message{Role: prompts.RoleUser, Content: "new", Media: []prompts.Attachment{img}})
	c, err := s1.Get(bg, chat)
	if err != nil || !sameBytes(c.Messages[0].Media, img) {
		t.Fatalf("after the race: %v %s", err, describe(c.Messages))
	}
}
