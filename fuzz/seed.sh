#!/bin/sh
# Makes the seed corpora in fuzz/corpus/<target>/ from real images (mke2fs, mkfs.vfat, mksquashfs,
# sfdisk) and sample text. Safe to run again. Then: `cargo fuzz run <target>` from the repository root.
set -eu
fuzz=$(cd "$(dirname "$0")" && pwd)
corpus=$fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PATH=$PATH:/usr/sbin:/sbin
for t in ext4 vfat partitions cmdline modlist devspec; do mkdir -p "$corpus/$t"; done

# cut FILE OFFSET LEN OUT: copies LEN bytes at OFFSET.
cut() { dd if="$1" of="$4" bs=1 skip="$2" count="$3" status=none; }
# le FILE OFFSET BYTES: an unsigned little-endian field.
le() { od -An -tu"$3" -j"$2" -N"$3" "$1" | tr -d ' '; }

# Something that is not ext4 nor vfat, for every target.
mkdir "$work/content" && echo data > "$work/content/f"
mksquashfs "$work/content" "$work/squash.img" -noappend -all-root -quiet >/dev/null
cut "$work/squash.img" 0 4096 "$corpus/ext4/squashfs"
cut "$work/squash.img" 0 1024 "$corpus/vfat/squashfs"
cut "$work/squash.img" 0 4096 "$corpus/partitions/squashfs"

for kind in ext2 ext3 ext4; do
    truncate -s 8M "$work/$kind.img"
    mke2fs -q -F -t "$kind" -L "$kind-label" "$work/$kind.img"
    cut "$work/$kind.img" 1024 1024 "$corpus/ext4/$kind"
done
truncate -s 4M "$work/jbd.img"
mke2fs -q -F -O journal_dev -b 1024 "$work/jbd.img"
cut "$work/jbd.img" 1024 1024 "$corpus/ext4/journal-dev"

# vfat: the boot sector followed by the start of the root directory, as the target splits its input.
vfat() {
    name=$1 kb=$2
    shift 2
    rm -f "$work/fat.img"
    mkfs.vfat -C "$@" "$work/fat.img" "$kb" >/dev/null 2>&1
    echo x > "$work/file.txt"
    mcopy -i "$work/fat.img" "$work/file.txt" ::/A-LONG-FILE-NAME.txt 2>/dev/null || true
    bps=$(le "$work/fat.img" 11 2) reserved=$(le "$work/fat.img" 14 2) fats=$(le "$work/fat.img" 16 1)
    fat16=$(le "$work/fat.img" 22 2)
    if [ "$fat16" -ne 0 ]; then
        root=$(( (reserved + fats * fat16) * bps ))
    else
        spc=$(le "$work/fat.img" 13 1) fat32=$(le "$work/fat.img" 36 4) cluster=$(le "$work/fat.img" 44 4)
        root=$(( (reserved + fats * fat32 + (cluster - 2) * spc) * bps ))
    fi
    cut "$work/fat.img" 0 512 "$corpus/vfat/$name"
    cut "$work/fat.img" "$root" 512 "$work/root"
    cat "$work/root" >> "$corpus/vfat/$name"
    cut "$work/fat.img" 0 512 "$corpus/partitions/vfat-$name"
}
vfat fat12 1440 -n BOOT -i 1234abcd
vfat fat16 20000 -F 16 -n "BOOT PART"
vfat fat32 40000 -F 32 -n RPI-BOOT
vfat fat32-4k 40000 -F 32 -S 4096 -n big
vfat nolabel 1440

disk() {
    truncate -s 64M "$work/disk.img"
    printf '%b' "$2" | sfdisk -q "$work/disk.img" >/dev/null
    cut "$work/disk.img" 0 32768 "$corpus/partitions/$1"
    rm "$work/disk.img"
}
disk gpt 'label: gpt\nsize=1MiB, name=img\nsize=1MiB, name="the overlay"\nsize=1MiB\n'
disk mbr 'label: dos\nlabel-id: 0x1234abcd\n,1MiB,83\n,1MiB,c\n,,5\n'
disk mbr-one 'label: dos\n,,83\n'

printf 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet splash\n' > "$corpus/cmdline/distro"
printf 'console=ttyS0 panic=-1 iovl.img=UUID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d iovl.overlay=/dev/vda2 rootwait=5\n' > "$corpus/cmdline/specs"
printf '"iovl.boot=PARTLABEL=EFI system" iovl.newimg="LABEL=new img" iovl.image=os.img iovl.onerror=reboot rw\n' > "$corpus/cmdline/quotes"
printf 'iovl.keep-upper iovl.no-persistent iovl.no-overlay iovl.noshell iovl.wait=30 rootdelay=1 init=/bin/sh iovl.x=1 -- rw\n' > "$corpus/cmdline/flags"

printf '# load order\nkernel/drivers/virtio/virtio.ko\n\n  kernel/fs/ext4/ext4.ko.xz \r\nkernel/fs/fat/vfat.ko.zst # c\n/abs.ko\n../up.ko\nmodules.dep\n' > "$corpus/modlist/sample"

printf 'LABEL=img\nvda1\nimg\n' > "$corpus/devspec/label"
printf 'UUID=0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D\nvda1\nimg\n0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n' > "$corpus/devspec/uuid"
printf 'PARTUUID=1234abcd-02\nsda2\n\n\n1234ABCD-02\n' > "$corpus/devspec/partuuid"
printf 'PARTLABEL="EFI system"\nsda1\n\n\n\nEFI system\n' > "$corpus/devspec/partlabel"
printf '/dev/mmcblk0p2\nmmcblk0p2\n' > "$corpus/devspec/path"

echo "seeds in $corpus:"
for t in "$corpus"/*; do echo "  $(basename "$t"): $(ls "$t" | wc -l) files"; done
