# The two commands of the README. Both install what is missing first (.ci/setup, idempotent).
SHELL := bash
# npm's binaryen provides wasm-opt for release builds; cargo-leptos finds tools on PATH.
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

.PHONY: run test setup

## (1) run the app in dev mode (live reload) at http://127.0.0.1:3000, with the development stand-ins
## (the server's dev-stack feature: bin-features in Cargo.toml's leptos metadata)
run: setup
	cargo leptos watch

## (2) run every test: Rust per package, then Playwright in Chromium
test: setup
	.ci/test

setup:
	.ci/setup
