/* Ends one instruction set's section of fill.c: forgets the macros that section defined for
 * fill_impl.h (each section defines the ones it has; #undef of an undefined name is a no-op).
 * Included once after each section, instead of a list repeated at each. */
#undef NAME
#undef VBYTES
#undef VSQRTF
#undef VSQRTD
#undef VFMAF
#undef VFNMAF
#undef VANY
#undef VOUTSIDE
#undef VPERMF
#undef VUNORD2
#undef VMAXF
#undef VMINF
#undef VMAXD
#undef VMIND
#undef PHILOX32
#undef PHILOX32_KS
#undef PHILOX_LANES
#undef STREAM_COPY
#undef STREAM_FENCE
#undef COLLECT
