#!/bin/sh
# data/fetch.sh — `make data`: make the four Fashion-MNIST files available to fmclust.
#
#   1. Debian's dataset-fashion-mnist already installed in /usr/share/datasets/fashion-mnist: done.
#   2. Else install that package (sudo when not root).
#   3. Else download the files from the dataset's public mirror into data/fashion-mnist/ and check
#      them: a complete gzip stream, the exact uncompressed size, and (when sha256sum exists) the
#      checksum of the uncompressed data.
set -eu

SYSTEM_DIR=/usr/share/datasets/fashion-mnist
LOCAL_DIR=$(cd "$(dirname "$0")" && pwd)/fashion-mnist
BASE_URL=http://fashion-mnist.s3-website.eu-central-1.amazonaws.com
FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"

# uncompressed bytes: 16-byte header + 28·28 per image; 8-byte header + 1 per label
raw_size() {
    case $1 in
        train-images*) echo 47040016 ;;
        train-labels*) echo 60008 ;;
        t10k-images*) echo 7840016 ;;
        t10k-labels*) echo 10008 ;;
    esac
}

# SHA-256 of the uncompressed data, as in Debian's dataset-fashion-mnist (the mirror's .gz files
# are compressed differently, so only the content can be compared)
raw_sha256() {
    case $1 in
        train-images*) echo c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888 ;;
        train-labels*) echo bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9 ;;
        t10k-images*) echo 5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b ;;
        t10k-labels*) echo 0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34 ;;
    esac
}

# check one .gz file; prints the problem and fails if there is one
# (POSIX sh has no local variables: the names here are kept apart from the callers' loops)
check_file() {
    cf_name=$(basename "$1" .part)
    if ! gzip -t "$1" 2>/dev/null; then
        echo "  $cf_name: not a complete gzip file" >&2
        return 1
    fi
    cf_size=$(gzip -dc "$1" | wc -c | tr -d ' ')
    if [ "$cf_size" != "$(raw_size "$cf_name")" ]; then
        echo "  $cf_name: $cf_size bytes uncompressed, expected $(raw_size "$cf_name")" >&2
        return 1
    fi
    if command -v sha256sum >/dev/null 2>&1; then
        cf_sum=$(gzip -dc "$1" | sha256sum | cut -d' ' -f1)
        if [ "$cf_sum" != "$(raw_sha256 "$cf_name")" ]; then
            echo "  $cf_name: warning: content checksum $cf_sum differs from Debian's copy" >&2
        fi
    fi
    return 0
}

has_all() {
    for ha_file in $FILES; do
        [ -r "$1/$ha_file" ] || return 1
    done
    return 0
}

if has_all "$SYSTEM_DIR"; then
    echo "Fashion-MNIST is installed in $SYSTEM_DIR (Debian package dataset-fashion-mnist); nothing to do."
    exit 0
fi

if has_all "$LOCAL_DIR"; then
    ok=1
    for f in $FILES; do check_file "$LOCAL_DIR/$f" || ok=0; done
    if [ $ok = 1 ]; then
        echo "Fashion-MNIST is already in $LOCAL_DIR; nothing to do."
        exit 0
    fi
    echo "The files in $LOCAL_DIR are damaged; fetching them again."
fi

# 2. the Debian package
if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=none; fi
    if [ "$SUDO" != none ]; then
        echo "Installing the Debian package dataset-fashion-mnist…"
        if $SUDO apt-get install -y dataset-fashion-mnist && has_all "$SYSTEM_DIR"; then
            echo "Fashion-MNIST is installed in $SYSTEM_DIR."
            exit 0
        fi
        echo "apt-get could not install dataset-fashion-mnist; downloading the files instead."
    fi
fi

# 3. the public mirror
if command -v curl >/dev/null 2>&1; then
    get() { curl -fsSL --retry 3 --connect-timeout 20 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
    get() { wget -q --tries=3 --timeout=20 -O "$2" "$1"; }
else
    echo "Neither curl nor wget is available: install one, or run" >&2
    echo "  apt-get install dataset-fashion-mnist" >&2
    exit 1
fi

mkdir -p "$LOCAL_DIR"
for f in $FILES; do
    if [ -r "$LOCAL_DIR/$f" ] && check_file "$LOCAL_DIR/$f" 2>/dev/null; then
        echo "  $f: already here"
        continue
    fi
    echo "  $f: downloading $BASE_URL/$f"
    if ! get "$BASE_URL/$f" "$LOCAL_DIR/$f.part"; then
        rm -f "$LOCAL_DIR/$f.part"
        echo "Download of $f failed (offline?). Install the Debian package instead:" >&2
        echo "  apt-get install dataset-fashion-mnist" >&2
        exit 1
    fi
    if ! check_file "$LOCAL_DIR/$f.part"; then
        rm -f "$LOCAL_DIR/$f.part"
        echo "The downloaded $f is not the Fashion-MNIST file; nothing kept." >&2
        exit 1
    fi
    mv "$LOCAL_DIR/$f.part" "$LOCAL_DIR/$f"
done
echo "Fashion-MNIST is in $LOCAL_DIR."
