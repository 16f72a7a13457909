// Package bench is the load generator behind `cedula bench`, for developers
// and for operators sizing a deployment.
//
// Run drives one operation from a fixed number of workers in a closed loop
// (each worker starts its next call when the previous one returns) for a
// warm-up and then a measured window, and reports throughput, errors and
// latency percentiles; WriteTable prints results side by side.
//
// Scenarios build operations for Run: Reference is the yardstick J, an
// in-process echo server whose one handler signs an SD-JWT-sized ES256 JWT,
// so that a server's figures can be read relative to what this machine can
// sign; TokenClient calls an OAuth token endpoint with client_credentials and
// private_key_jwt client authentication.
package bench
