/* xdp_obj.c - the compiled data path (coop_xdp.bpf.o) embedded in libcoop, so that coopd and embedding programs need no file at run time and can never load a program built from another coop_xdp.h. */

/*
 * The Makefile builds $(B)/fwd/bpf/coop_xdp.bpf.o first and passes its path
 * as COOP_XDP_OBJ; .incbin copies the bytes into .rodata. (An assembler
 * directive rather than `ld -r -b binary`: the symbol names do not depend
 * on the build directory and the object keeps a non-executable stack note.)
 */
#ifndef COOP_XDP_OBJ
#error "build with -DCOOP_XDP_OBJ='\"path/to/coop_xdp.bpf.o\"' (the Makefile does)"
#endif

__asm__(".section .rodata.coop_fwd_xdp_obj,\"a\",@progbits\n"
	".balign 16\n"
	".globl coop_fwd_xdp_obj\n"
	".hidden coop_fwd_xdp_obj\n"
	".type coop_fwd_xdp_obj, @object\n"
	"coop_fwd_xdp_obj:\n"
	".incbin \"" COOP_XDP_OBJ "\"\n"
	".globl coop_fwd_xdp_obj_end\n"
	".hidden coop_fwd_xdp_obj_end\n"
	"coop_fwd_xdp_obj_end:\n"
	".byte 0\n"
	".previous\n");
