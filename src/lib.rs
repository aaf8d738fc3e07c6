//! The pure half of initramfs-overlay: everything that reads bytes or plans work, with no hardware.
//! It is `no_std` so the init links it, and `cargo test` runs it on the host. `src/main.rs` is the boot.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod cmdline;
pub mod cpath;
pub mod devspec;
pub mod errnames;
pub mod ext4;
pub mod log;
pub mod modlist;
pub mod numfmt;
pub mod partitions;
pub mod sha256;
pub mod squashfs;
pub mod uevent;
pub mod update;
pub mod vfat;
