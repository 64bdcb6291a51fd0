#include "models/whisper-enc.cpp"
