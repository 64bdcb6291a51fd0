package main

import (
	"path/filepath"
	"strings"

	"natter/engine/api"
	"natter/engine/models"
	"natter/ui"
)

// modelName is how natter names a loaded model in the chat, the history
// and exports: the catalog name for a file `natter pull` fetched, else the
// file name without .gguf (an Ollama blob has none worth showing: its
// GGUF name then).
func modelName(info api.ModelInfo) string {
	base := filepath.Base(info.Path)
	for _, e := range models.Catalog() {
		if strings.EqualFold(e.File, base) {
			return e.Name
		}
	}
	if strings.HasPrefix(base, "sha256-") && info.Name != "" {
		return info.Name
	}
	return ui.DefaultModelName(info)
}
