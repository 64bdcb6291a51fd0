package tune

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"natter/engine"
)

// memAvailable is the kernel's MemAvailable (Linux); false elsewhere.
func memAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// checkMemory refuses, with the numbers, a run that cannot fit.
func checkMemory(cfg Config, m engine.TrainMemory) error {
	if cfg.NoMemOK {
		return nil
	}
	avail := cfg.Available
	if avail == nil {
		avail = memAvailable
	}
	free, ok := avail()
	if !ok || m.Total <= free {
		return nil
	}
	return fmt.Errorf("training %s needs about %s but %s of memory is free (%s). Train fewer tensors (--train-layers last:2 or attn), use a shorter --ctx, or --optimizer sgd",
		filepath.Base(cfg.Base), engine.HumanBytes(m.Total), engine.HumanBytes(free), m)
}

// checkDisk refuses a run whose output cannot fit on its filesystem: the
// tuned model is as big as the base.
func checkDisk(out string, need int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(out), &st); err != nil {
		return nil
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if need > free {
		return fmt.Errorf("-o %s: the tuned model needs %s but %s is free there", out, engine.HumanBytes(need), engine.HumanBytes(free))
	}
	return nil
}
