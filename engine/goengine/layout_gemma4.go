package goengine

import "natter/engine/gguf"

func planGemma4(f *gguf.File, lb *layoutBackend) error { return nil }
