# initramfs-overlay tasks. `just build` makes every image, `just test` runs everything.
set shell := ["bash", "-euo", "pipefail", "-c"]

arches := "x86_64 i686 armv6l"

# Build the init for all arches (standard and debug) and pack both images per arch.
build:
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release -p packer
    for arch in {{arches}}; do
        init="target/$(just triple "$arch")/$(just profile "$arch")/init"
        cargo "init-$arch" --features debug-shell
        cp "$init" "$init-debug"
        cargo "init-$arch"
        target/release/packer image --arch "$arch" --init "$init"
        target/release/packer image --arch "$arch" --init "$init-debug" --debug
    done
    ls -l target/init-*.gz

# The rust target triple of an arch name.
triple arch:
    @case "{{arch}}" in x86_64) echo x86_64-unknown-linux-musl;; i686) echo i586-unknown-linux-musl;; armv6l) echo arm-unknown-linux-musleabihf;; *) echo "unknown arch {{arch}}" >&2; exit 1;; esac

# The cargo profile the init is built with (ARM is Thumb code, see Cargo.toml).
profile arch:
    @case "{{arch}}" in armv6l) echo init-thumb;; *) echo init;; esac

# Sizes per arch against size-report/budgets.toml; fails when anything is over budget.
size:
    cargo run --release -q -p size-report

# Lints: rustfmt's default style everywhere, then clippy on the host crates, the init's library and the
# init for every target; warnings are errors. The init binary itself only builds for the musl targets,
# hence the exclusion on the host.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --exclude initramfs-overlay -q -- -D warnings
    cargo clippy -p initramfs-overlay --lib --tests -q -- -D warnings
    for arch in {{arches}}; do cargo "clippy-$arch" -q -- -D warnings; done

# Host unit tests (parsers, cmdline, update logic, packer, size report, the harness's own parsing).
unit:
    cargo test --workspace --exclude e2e
    cargo test -p e2e --lib

# Short fuzz smoke run of every target (the long runs are `just fuzz`).
fuzz-smoke seconds="10":
    cd fuzz && ./run.sh {{seconds}}

# Long fuzz runs: every target for `seconds` (default 10 minutes each).
fuzz seconds="600":
    cd fuzz && ./run.sh {{seconds}}

# Everything: unit tests, lints, size budgets, a fuzz smoke run and the QEMU suite on real Debian kernels.
test: build unit lint size fuzz-smoke
    cargo test --release -p e2e --test e2e

clean:
    cargo clean
    rm -rf tests/cache busybox-cache
