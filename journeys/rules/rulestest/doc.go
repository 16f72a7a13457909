// Package rulestest makes a synthetic population for measuring segment
// rules: the same citizens every run (a fixed seed), both as rules.Citizen
// values of the default catalogue and as plain Go, so that a benchmark can
// set rules.Select against the least the same selection costs without CEL.
// The rules package's benchmarks and `cedula bench journeys --mode segment`
// share it; no server path imports it.
package rulestest
