// Package cap reads alerts of the OASIS Common Alerting Protocol 1.2
// (CAP), the XML messages that civil-protection agencies push when they
// warn the public: Parse refuses, within bounds, anything the CAP 1.2
// schema and specification do not allow (a DOCTYPE, another namespace,
// elements out of their sequence, values outside an enumeration, a date
// without a numeric zone, a polygon that crosses itself, an Update that
// names no earlier message, …) and says where and why, with the element's
// path. What it returns answers what the journeys room asks before
// telling citizens: the alert's reference key and those it updates or
// cancels, whether it has expired, whether an info must break a citizen's
// quiet hours, which languages it speaks, and whether a place lies in its
// areas (polygons and circles; geocodes are left to the caller).
//
// The package does no I/O and keeps nothing: receiving alerts over HTTP
// and storing them are the room's.
package cap
