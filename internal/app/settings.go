package app

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// option is one setting, read from its environment variable and overridden
// by its flag. The list of options is what `--help` and docs/configuration.md show.
type option struct {
	flag, env, def, help string
	secret               bool
}

// settings binds options to a FlagSet with defaults taken from the
// environment, so a flag overrides the variable and the variable the default.
type settings struct {
	fs     *flag.FlagSet
	getenv func(string) string
	opts   []option
	errs   []string
}

func newSettings(name string, getenv func(string) string, stderr io.Writer) *settings {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	s := &settings{fs: fs, getenv: getenv}
	fs.Usage = func() { s.usage(stderr) }
	return s
}

func (s *settings) lookup(o option) string {
	s.opts = append(s.opts, o)
	if v := s.getenv(o.env); v != "" {
		return v
	}
	return o.def
}

func (s *settings) String(p *string, flagName, env, def, help string) {
	s.fs.StringVar(p, flagName, s.lookup(option{flag: flagName, env: env, def: def, help: help}), help)
}

// Secret is a string setting whose value never appears in --help. It can
// also be read from the file that env+"_FILE" names (Docker and Kubernetes
// secrets are files), which keeps it out of the environment; a trailing
// newline is dropped.
func (s *settings) Secret(p *string, flagName, env, help string) {
	s.opts = append(s.opts, option{flag: flagName, env: env, help: help + " (or read from the file " + env + "_FILE names)", secret: true})
	*p = s.getenv(env)
	if file := s.getenv(env + "_FILE"); file != "" {
		data, err := os.ReadFile(file)
		switch {
		case *p != "":
			s.errs = append(s.errs, fmt.Sprintf("%s and %s_FILE are both set: keep one", env, env))
		case err != nil:
			s.errs = append(s.errs, fmt.Sprintf("%s_FILE: %v", env, err))
		default:
			*p = strings.TrimRight(string(data), "\r\n")
		}
	}
	if flagName != "" {
		s.fs.Func(flagName, help, func(v string) error { *p = v; return nil })
	}
}

func (s *settings) Int(p *int, flagName, env string, def int, help string) {
	v := s.lookup(option{flag: flagName, env: env, def: strconv.Itoa(def), help: help})
	n, err := strconv.Atoi(v)
	if err != nil {
		s.errs = append(s.errs, fmt.Sprintf("%s=%q is not a whole number", env, v))
	}
	s.fs.IntVar(p, flagName, n, help)
}

func (s *settings) Bool(p *bool, flagName, env string, def bool, help string) {
	v := s.lookup(option{flag: flagName, env: env, def: strconv.FormatBool(def), help: help})
	b, err := strconv.ParseBool(v)
	if err != nil {
		s.errs = append(s.errs, fmt.Sprintf("%s=%q is not true or false", env, v))
	}
	s.fs.BoolVar(p, flagName, b, help)
}

func (s *settings) Duration(p *time.Duration, flagName, env string, def time.Duration, help string) {
	v := s.lookup(option{flag: flagName, env: env, def: def.String(), help: help})
	d, err := time.ParseDuration(v)
	if err != nil {
		s.errs = append(s.errs, fmt.Sprintf("%s=%q is not a duration such as 30s", env, v))
	}
	s.fs.DurationVar(p, flagName, d, help)
}

// List is a comma-separated setting.
func (s *settings) List(p *[]string, flagName, env, def, help string) {
	*p = splitList(s.lookup(option{flag: flagName, env: env, def: def, help: help}))
	s.fs.Func(flagName, help+" (comma-separated; default "+strconv.Quote(def)+")", func(v string) error {
		*p = splitList(v)
		return nil
	})
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Parse reads the flags; bad environment values are reported here too.
func (s *settings) Parse(args []string) error {
	if err := s.fs.Parse(args); err != nil {
		return err
	}
	if len(s.errs) > 0 {
		return fmt.Errorf("bad configuration: %s", strings.Join(s.errs, "; "))
	}
	return nil
}

func (s *settings) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: slipway %s [flags]\n\nSettings (flag, environment variable, default):\n", s.fs.Name())
	for _, o := range s.opts {
		name := "  (env only)"
		if o.flag != "" {
			name = "  --" + o.flag
		}
		def := o.def
		switch {
		case o.secret:
			def = "(secret)"
		case def == "":
			def = `""`
		}
		fmt.Fprintf(w, "%-24s %-30s default %s\n      %s\n", name, o.env, def, o.help)
	}
}
