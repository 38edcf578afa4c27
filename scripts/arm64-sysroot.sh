#!/usr/bin/env bash
# arm64-sysroot.sh — an arm64 (aarch64) Debian bookworm sysroot with OpenCV, for cross-building the
# mirror's cgo programs on an amd64 machine and for running them under qemu (scripts/arm64-run.sh).
#   scripts/arm64-sysroot.sh          make or reuse the sysroot; print its path on stdout
#   scripts/arm64-sysroot.sh --path   print the path of the cached sysroot (fail when there is none)
# The path printed is the stable link CACHE/sysroot, so compiler flags (and with them the Go build
# cache's keys) stay the same when a package update makes a new sysroot.
#
# Why not multiarch (`apt-get install libopencv-dev:arm64`): on amd64 it plans to remove the amd64
# OpenCV, because gdal, armadillo and openexr are not Multi-Arch: same. Instead apt is pointed at an
# empty dpkg status file with APT::Architecture=arm64; it downloads every package (~424 debs,
# ~243 MB) and each is unpacked with dpkg-deb -x. What maintainer scripts would have done is done
# by hand: absolute symlinks become relative (so they resolve inside the sysroot) and the BLAS and
# LAPACK alternatives get their libblas.so.3 / liblapack.so.3 links.
#
# The cache lives outside the tree: $FITMIRROR_ARM64_CACHE, default ~/.cache/fitmirror/arm64.
# A sysroot is keyed on the exact package versions apt resolves (sysroot-KEY); the "sysroot"
# symlink there names the current one. SYSROOT/.fitmirror-shlibs lists which package ships each
# shared library ("PATH PACKAGE"), what dpkg -S answers on the host, for checking a package's
# Depends against its binary's NEEDED libraries. A security update of any package makes a new sysroot (only
# the changed debs are downloaded again) and the old one is removed. Nothing here is committed.
set -euo pipefail

# The packages the sysroot holds: OpenCV (gocv), the C and C++ runtimes and headers, and for the
# camera tests under qemu the GStreamer base plugins (videotestsrc, appsink) and libcamerasrc.
PKGS=(libopencv-dev libc6-dev libstdc++-12-dev gstreamer1.0-plugins-base gstreamer1.0-libcamera)
# Bump when the way the sysroot is made changes, so cached ones are rebuilt.
LAYOUT=2

cache=${FITMIRROR_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fitmirror/arm64}
log() { echo "arm64-sysroot: $*" >&2; }

if [ "${1:-}" = "--path" ]; then
	if [ -f "$cache/sysroot/.fitmirror-sysroot" ]; then
		echo "$cache/sysroot"
		exit 0
	fi
	log "no sysroot in $cache yet (run scripts/arm64-sysroot.sh or make deb-arm64)"
	exit 1
fi

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9 # one maker at a time (parallel test binaries may all ask for the sysroot)

apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d" "$apt_dir/preferences.d"
: >"$apt_dir/status" # the empty dpkg status: apt plans every package as new
: >"$apt_dir/sources.list"

# The machine's Debian sources (deb.debian.org or a mirror); other vendors' lists stay out.
copied=0
for f in /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	if grep -qiE '^URIs:.*(debian|raspbian|raspberrypi)' "$f"; then
		cp "$f" "$apt_dir/sources.list.d/"
		copied=1
	fi
done
if [ -f /etc/apt/sources.list ]; then
	grep -E '^deb\s.*(debian|raspbian|raspberrypi)' /etc/apt/sources.list >"$apt_dir/sources.list" || true
	[ -s "$apt_dir/sources.list" ] && copied=1
fi
if [ $copied -eq 0 ]; then
	log "no Debian sources found in /etc/apt; using deb.debian.org"
	cat >"$apt_dir/sources.list" <<-EOF
		deb http://deb.debian.org/debian bookworm bookworm-updates main
		deb http://deb.debian.org/debian-security bookworm-security main
	EOF
fi

apt_opts=(
	-o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
	-o "Dir::State=$apt_dir" -o "Dir::State::status=$apt_dir/status"
	-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o "Dir::Cache::Archives=$apt_dir/archives"
	-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
	-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
	-o "Dir::Etc::Preferences=$apt_dir/preferences" -o "Dir::Etc::PreferencesParts=$apt_dir/preferences.d"
	-o "APT::Install-Recommends=false" -o "APT::Install-Suggests=false"
	-o "Debug::NoLocking=true" -o "APT::Sandbox::User=root"
)

# The arm64 package lists, refreshed when older than a day.
if [ -z "$(find "$apt_dir/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
	log "apt-get update (arm64 lists into $apt_dir)"
	apt-get "${apt_opts[@]}" update -q >&2
fi

# The key: every package=version apt resolves, and the layout of this script.
plan=$(apt-get "${apt_opts[@]}" install -s "${PKGS[@]}" 2>/dev/null | awk '/^Inst /{print $2, $3}' | tr -d '(' | sort)
if [ -z "$plan" ]; then
	apt-get "${apt_opts[@]}" install -s "${PKGS[@]}" >&2 || true
	log "apt resolved no packages for ${PKGS[*]}"
	exit 1
fi
key=$( { echo "layout $LAYOUT"; echo "${PKGS[*]}"; echo "$plan"; } | sha256sum | cut -c1-16)
root=$cache/sysroot-$key

if [ -f "$root/.fitmirror-sysroot" ]; then
	ln -sfn "sysroot-$key" "$cache/sysroot"
	echo "$cache/sysroot"
	exit 0
fi

log "making $root ($(echo "$plan" | wc -l) packages)"
apt-get "${apt_opts[@]}" install -d -y -q "${PKGS[@]}" >&2

tmp=$root.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
echo "$plan" | while read -r name version; do
	# The deb apt saved: NAME_VERSION_ARCH.deb with the epoch's ':' escaped as %3a.
	v=${version//:/%3a}
	deb=$(ls "$apt_dir/archives/${name}_${v}_"*.deb 2>/dev/null | head -n 1)
	if [ -z "$deb" ]; then
		log "apt did not download $name $version"
		exit 1
	fi
	dpkg-deb -X "$deb" "$tmp" | sed -n "s|^\\./\\(.*\\.so[.0-9]*\\)\$|/\\1 $name|p" >>"$tmp/.fitmirror-shlibs"
done

# Absolute symlinks point into the host; make them relative so they resolve inside the sysroot.
find "$tmp" -type l -lname '/*' -print0 | while IFS= read -r -d '' link; do
	target=$(readlink "$link")
	dir=$(dirname "$link")
	ln -sfn "$(realpath -m --relative-to="$dir" "$tmp$target")" "$link"
done
# What update-alternatives does in libblas3/liblapack3's postinst.
for lib in blas lapack; do
	for d in "$tmp"/usr/lib/aarch64-linux-gnu; do
		so=$(ls "$d/$lib/lib$lib.so.3" 2>/dev/null | head -n 1) || true
		if [ -n "$so" ] && [ ! -e "$d/lib$lib.so.3" ]; then
			ln -sfn "$lib/lib$lib.so.3" "$d/lib$lib.so.3"
		fi
	done
	if [ ! -e "$tmp/usr/lib/aarch64-linux-gnu/lib$lib.so.3" ]; then
		log "no lib$lib.so.3 in the sysroot"
		exit 1
	fi
done
# The dynamic loader at the path the binaries name (/lib/ld-linux-aarch64.so.1) — usrmerge links.
for d in lib bin sbin; do
	if [ ! -e "$tmp/$d" ] && [ -d "$tmp/usr/$d" ]; then ln -s "usr/$d" "$tmp/$d"; fi
done
if [ ! -e "$tmp/lib/ld-linux-aarch64.so.1" ]; then
	log "no /lib/ld-linux-aarch64.so.1 in the sysroot"
	exit 1
fi

echo "$plan" >"$tmp/.fitmirror-sysroot"
rm -rf "$root"
mv "$tmp" "$root"
ln -sfn "sysroot-$key" "$cache/sysroot"
# Older sysroots (other package versions) and debs no longer in the plan go.
for old in "$cache"/sysroot-*; do
	[ "$old" = "$root" ] || rm -rf "$old"
done
apt-get "${apt_opts[@]}" autoclean -q >/dev/null 2>&1 || true
log "ready: $root"
echo "$cache/sysroot"
