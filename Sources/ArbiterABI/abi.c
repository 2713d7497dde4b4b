// The ABI is a header; this file only gives the C target a translation unit.
#include "arbiter_abi.h"
