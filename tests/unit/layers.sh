#!/usr/bin/env bash
# layers.sh - no file of a lower layer includes a header of a higher one:
#   0 base/   1 core/   2 vs/ resolver/ fwd/ examples/services/   3 runtime/
# and no module folder includes another module folder's headers (modules
# talk through core/module.h only). Exit 1 naming every offending line.
set -u
cd "$(dirname "$0")/../.."
layer() {
	case "$1" in
	base/*) echo 0 ;;
	core/*) echo 1 ;;
	vs/* | resolver/* | fwd/* | examples/services/*) echo 2 ;;
	runtime/*) echo 3 ;;
	*) echo 9 ;;
	esac
}
bad=0
for f in base/*.[ch] core/*.[ch] vs/*.[ch] resolver/*.[ch] fwd/*.[ch] runtime/*.[ch]; do
	lf=$(layer "$f")
	dir=${f%%/*}
	while IFS= read -r inc; do
		[ -e "$inc" ] || [ -e "$(dirname "$f")/$inc" ] || continue
		case "$inc" in */*) ;; *) inc="$(dirname "$f")/$inc" ;; esac
		li=$(layer "$inc")
		idir=${inc%%/*}
		if [ "$li" -gt "$lf" ]; then
			echo "layers: $f (layer $lf) includes $inc (layer $li)"
			bad=1
		elif [ "$li" -eq 2 ] && [ "$lf" -eq 2 ] && [ "$idir" != "$dir" ] &&
			[ "$dir" != examples ]; then
			echo "layers: module $f includes another module's $inc"
			bad=1
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
[ $bad -eq 0 ] && echo "layers: no include goes upwards or across modules"
exit $bad
