package config

import (
	"errors"
	"os"
	"strconv"
)

// all returns the value slice for writing, creating it so that a zero
// Config starts from the defaults.
func (c *Config) all() []Value {
	if len(c.values) != len(Keys) {
		c.values = defaults()
	}
	return c.values
}

// Get returns a key's effective value. An unknown name gives the zero
// Value (Key nil).
func (c *Config) Get(name string) Value {
	i, ok := index[name]
	if !ok {
		return Value{}
	}
	if c == nil || len(c.values) != len(Keys) {
		return defaultValue(&Keys[i])
	}
	return c.values[i]
}

// Values returns every key's value in table order.
func (c *Config) Values() []Value {
	if c == nil || len(c.values) != len(Keys) {
		return defaults()
	}
	return append([]Value(nil), c.values...)
}

// Set gives a key a value written as text, checked like a file value. It is
// recorded as coming from the config file (no line).
func (c *Config) Set(name, text string) error {
	if c == nil {
		return errors.New("config: Set on a nil Config")
	}
	k, ok := Lookup(name)
	if !ok {
		return &FileError{Key: name, keyInMsg: true,
			Msg: "unknown key " + strconv.Quote(name) + suggestKey(name)}
	}
	t, list, problem := k.parseText(text)
	if problem != "" {
		return &FileError{Key: name, Msg: strconv.Quote(text) + ": " + problem}
	}
	c.all()[index[name]] = Value{Key: k, Text: t, Source: File, Origin: c.Path, list: list}
	return nil
}

// EnvError is an environment variable natter could not use.
type EnvError struct {
	Var, Value string
	Key        string // the config key it overrides
	Msg        string // "want a number from 0 to 100"
}

func (e *EnvError) Error() string {
	return e.Var + "=" + strconv.Quote(e.Value) + ": " + e.Msg
}

// ApplyEnv lets NATTER_* variables override the file. lookup is usually
// os.LookupEnv (nil means that). A variable set to "" counts as unset, so
// `NATTER_TEMP= natter` means "no override". Every usable variable is
// applied; the bad ones are returned together as *EnvError values.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	if c == nil {
		return errors.New("config: ApplyEnv on a nil Config")
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	vals := c.all()
	var errs []error
	for i := range Keys {
		k := &Keys[i]
		if k.Env == "" {
			continue
		}
		s, ok := lookup(k.Env)
		if !ok || s == "" {
			continue
		}
		text, list, problem := k.parseText(s)
		if problem != "" {
			errs = append(errs, &EnvError{Var: k.Env, Value: s, Key: k.Name, Msg: problem})
			continue
		}
		if k.Inverted && k.Type == Bool {
			text = boolText(text != "true") // NATTER_NO_HISTORY=1 is save=false
		}
		vals[i] = Value{Key: k, Text: text, Source: Env, Origin: k.Env, list: list}
	}
	return errors.Join(errs...)
}
