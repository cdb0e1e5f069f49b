#pragma once
// hiredis from Debian's libhiredis-dev, included by its directory (its pkg-config flags add a define SwiftPM refuses).
#include <hiredis/hiredis.h>
