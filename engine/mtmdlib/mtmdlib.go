// Package mtmdlib links llama.cpp's multimodal library (tools/mtmd: the
// CLIP/SigLIP/Whisper encoders and the projectors) into the binary. Ollama's
// own mtmd package also compiles mtmd-helper.cpp, which needs the stb and
// miniaudio headers its module zip lacks, so natter compiles the other files
// here through one-line wrappers and decodes media in Go instead. The include
// path to the mtmd sources comes from CGO_CPPFLAGS, which the Makefile sets.
package mtmdlib

// #cgo CXXFLAGS: -std=c++17
import "C"
