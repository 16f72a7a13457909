// Package auditapi serves the audit log (package audit) over HTTP, so that
// citizens, DPOs, auditors and mirrors can check it without trusting the
// operator. Handler serves, under Prefix (/audit/), with GET (and HEAD):
//
//	/audit/checkpoint       the latest signed checkpoint (C2SP tlog-checkpoint),
//	                        text/plain; charset=utf-8, Cache-Control: no-cache
//	/audit/key              the log's verifier keys in the signed-note form
//	                        name+hash+base64, one per line, the active key first
//	/audit/entries?start=S&end=E
//	                        {"entries":[{"index":N,"data":"<base64>"}]}, S ≤ i < E,
//	                        at most audit.MaxEntries at once
//	/audit/proof/inclusion?index=I&size=S   or   ?leaf=H&size=S
//	                        {"index":I,"size":S,"root":"<base64>","proof":["<base64>",…]}
//	/audit/proof/consistency?old=M&new=N
//	                        {"old":M,"new":N,"proof":["<base64>",…]}
//	/audit/tile/<L>/<N>[.p/<W>]        hash tiles          (C2SP tlog-tiles)
//	/audit/tile/entries/<N>[.p/<W>]    entry bundles       (C2SP tlog-tiles)
//
// The data of an entry is its canonical encoding, the Merkle leaf (see
// package audit); it is base64 in JSON so that a JSON encoder cannot
// re-escape it. Hashes are standard base64 of SHA-256 values; a leaf
// hash in a query may also be URL-safe base64 or hex (a standard base64
// '+' must be percent-encoded as %2B). Root is the root hash of the tree of
// size S, computed by the log: compare it with a checkpoint you verified,
// never trust it alone.
//
// # Tiles
//
// The tiles follow C2SP tlog-tiles (https://c2sp.org/tlog-tiles), so that
// the log can be copied to any static file server (`cedula audit mirror`)
// and checked from that copy (`cedula audit verify --dir`): tiles are 8
// levels high; a full tile holds 256 hashes (8192 bytes) and never changes
// (Cache-Control: immutable, for a year); a partial tile .p/W holds the
// first W, and is cached for a minute. Level-0 tiles hold leaf hashes,
// level-L tiles the hashes of full tiles of level L-1. An entry bundle
// holds the canonical encodings of the entries of the matching level-0
// tile, each as a big-endian uint16 length and the bytes; it is sent
// gzip-compressed to clients that accept gzip. A tile the log does not
// have yet — beyond its current size — is 404, as on a static copy.
//
// # Keys
//
// /audit/key is a convenience for people setting up a verifier. A client
// that takes the key from the log it checks proves nothing against the
// operator, who could serve a key of their own with a history of their
// own: clients must pin the key, obtained out of band (the operator's
// published configuration, a DPO's notice), and use /audit/key at most to
// notice a key rotation they then confirm out of band.
//
// # Errors
//
// Every answer other than 200 is an RFC 9457 problem (internal/problem).
// A client's mistake is 400, never 500: numbers that are not decimals
// without sign or leading zeroes, a missing or repeated parameter, an index
// at or beyond the size, a size beyond the log, an inverted or too long
// range, a malformed hash, a tile path not in the canonical C2SP form. An
// unknown leaf hash, a checkpoint not signed yet, a tile not there yet are
// 404; another method than GET or HEAD is 405. A 500 says nothing of its
// cause, which is logged.
package auditapi
