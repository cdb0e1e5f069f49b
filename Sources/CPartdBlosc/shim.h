#pragma once
#include <blosc.h>
