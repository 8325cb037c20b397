#!/usr/bin/env bash
# Quick check of the bench module for CI: vet, the tests (adapters and the
# hit-ratio check), every benchmark run 100 times, and the report generator
# in its quick mode (into a temporary directory, so that docs/ keeps the
# full run). Benchmarks and tests that need Redis start their own
# redis-server on loopback and skip with a message when it is not
# installed. Takes a few minutes on 2 cores.
set -euo pipefail
export GOWORK=off # this module is not in the repository's go.work
cd "$(dirname "$0")"
go vet ./...
go test ./...
go test -run '^$' -bench . -benchtime=100x ./...
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go run ./cmd/report -quick -out "$out"
