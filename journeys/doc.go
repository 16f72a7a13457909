// Package journeys is the room of citizen journeys and alerts: how
// government reaches citizens proactively — a benefit they may now be
// eligible for, a certificate about to expire, a flood warning — on the
// channel they prefer, only with the data a purpose allows, always able to
// say why, and in a way no scammer can imitate.
//
// This package holds the room's domain, without HTTP: the seals that make
// every message checkable (seal.go). Child packages hold the rest: the
// store (journeys/sqlstore), the public check (journeys/journeysapi).
package journeys
