package main

import "fmt"

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e exitError) ExitCode() int { return e.code }
func (e exitError) Unwrap() error { return e.err }

func exitf(code int, format string, args ...any) error {
	return exitError{code: code, err: fmt.Errorf(format, args...)}
}
