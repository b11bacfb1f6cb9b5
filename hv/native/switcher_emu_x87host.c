/*
 * switcher_emu_x87host.c: the emu's x87 runs on the host's own x87 unit.
 *
 * The guest's whole x87 state lives in the emu as an FNSAVE image (the
 * 108-byte 32-bit protected-mode format, SDM vol. 1, 8.1.10) while the emu
 * is not running, and in the host's own x87 unit while it is: the first x87
 * (or MMX) instruction of a run loads the image with FRSTOR, and the end of
 * the run stores it back with FNSAVE (emu_x87_save).  In between, one guest
 * x87 instruction is one call to a stub generated below that runs the very
 * same opcode (a memory operand becomes [rsi], a copy of the guest's bytes).
 * So results, the status word (condition codes, exception flags, C1 on
 * rounding, stack faults), the tag word and TOP are the host CPU's own, with
 * the guest's control word (precision and rounding) in force, and identical
 * on every run.  The emu's own code between two guest instructions uses no
 * x87 instruction, so the guest's registers stay where they are.
 *
 * FNSAVE leaves the host's x87 initialised, so nothing of the guest's state
 * stays behind once the run ends, and the host's control word is put back:
 * the host thread's settings neither leak in nor out.  The guest's
 * arithmetic flags go into RFLAGS for FCMOVcc, and RFLAGS comes back out for
 * FCOMI.  A guest instruction that would raise an unmasked exception only
 * leaves it pending (the host's x87 defers it to the next waiting
 * instruction); the caller never runs a waiting instruction while one is
 * pending, so the host never takes #MF.  Which opcodes may run is decided by
 * the decoder: only encodings this CPU executes get here.
 *
 * The guest's last instruction and operand pointers (FIP, FCS, FOP, FDP,
 * FDS) are kept by the emu (struct cpu's fpu_*), not by the host, whose own
 * would name the stub: FNSTENV and FNSAVE get them patched into what they
 * store, FLDENV and FRSTOR take them from what they load.
 *
 * The stubs are X87_STUB_BYTES apart: reg[esc][modrm - 0xc0] for register
 * forms and mem[esc][reg] for memory forms (ModRM mod 00, r/m 110: [rsi] on
 * x86-64, [esi] on i386, where farm nodes build hv too).
 */
#include "switcher_emu.h"

/* The stub's entry, by host: on x86-64 the arguments arrive in RSI, RDX and
 * RCX (SysV); on i386 they are on the stack (cdecl) and the stub loads them,
 * keeping ESI.  Either way the body uses [SI] for the memory operand (which
 * is why a memory ModRM of mod 00, r/m 110 works on both), [DX] for the
 * flags out and [CX] for the flags in. */
#if defined(__x86_64__)
#define X87_STUB_BYTES 16
#define X87_ENTRY "\t.byte 0xf3, 0x0f, 0x1e, 0xfa\n"     /* endbr64 */
#define X87_FLAGS_IN "\tpushq (%rcx)\n\tpopfq\n"
#define X87_FLAGS_OUT "\tpushfq\n\tpopq (%rdx)\n"
#define X87_EXIT "\tret\n"
#elif defined(__i386__)
#define X87_STUB_BYTES 32
#define X87_ENTRY "\tpushl %esi\n\tmovl 12(%esp), %esi\n" \
                  "\tmovl 16(%esp), %edx\n\tmovl 20(%esp), %ecx\n"
#define X87_FLAGS_IN "\tpushl (%ecx)\n\tpopfl\n"
#define X87_FLAGS_OUT "\tpushfl\n\tpopl (%edx)\n"
#define X87_EXIT "\tpopl %esi\n\tret\n"
#else
#error "the emu's x87 runs on an x86 host's x87 unit"
#endif
#define X87_STR_(x) #x
#define X87_STR(x) X87_STR_(x)

__asm__(
    ".pushsection .text.hv_x87_stubs, \"ax\", @progbits\n"
    ".macro hv_x87_stub esc, modrm\n"
    "\t.balign " X87_STR(X87_STUB_BYTES) "\n"
    X87_ENTRY
    /* FCMOVcc (DA/DB C0-DF) reads the guest's flags, FCOMI and FUCOMI
     * (DB/DF E8-F7) write them; nothing else needs RFLAGS. */
    "\t.if (\\esc == 0xda || \\esc == 0xdb) && \\modrm >= 0xc0 && \\modrm < 0xe0\n"
    X87_FLAGS_IN
    "\t.endif\n"
    "\t.byte \\esc, \\modrm\n"
    "\t.if (\\esc == 0xdb || \\esc == 0xdf) && \\modrm >= 0xe8 && \\modrm < 0xf8\n"
    X87_FLAGS_OUT
    "\t.endif\n"
    X87_EXIT
    ".endm\n"
    ".balign " X87_STR(X87_STUB_BYTES) "\n"
    ".globl hv_x87_reg_stubs\n"
    ".hidden hv_x87_reg_stubs\n"
    "hv_x87_reg_stubs:\n"
    ".irp esc, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf\n"
    "\t.set hv_m, 0xc0\n"
    "\t.rept 64\n"
    "\thv_x87_stub \\esc, hv_m\n"
    "\t.set hv_m, hv_m + 1\n"
    "\t.endr\n"
    ".endr\n"
    ".balign " X87_STR(X87_STUB_BYTES) "\n"
    ".globl hv_x87_mem_stubs\n"
    ".hidden hv_x87_mem_stubs\n"
    "hv_x87_mem_stubs:\n"
    ".irp esc, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf\n"
    "\t.set hv_m, 0x06\n"
    "\t.rept 8\n"
    "\thv_x87_stub \\esc, hv_m\n"
    "\t.set hv_m, hv_m + 8\n"
    "\t.endr\n"
    ".endr\n"
    ".purgem hv_x87_stub\n"
    ".popsection\n");

extern const uint8_t hv_x87_reg_stubs[], hv_x87_mem_stubs[];

typedef void x87_stub(void *unused, void *mem, uint64_t *flags_out, const uint64_t *flags_in);

static uint64_t host_flags(void)
{
    unsigned long f;
#if defined(__x86_64__)
    __asm__ volatile("pushfq\n\tpopq %0" : "=r"(f));
#else
    __asm__ volatile("pushfl\n\tpopl %0" : "=r"(f));
#endif
    return f;
}

uint32_t emu_x87_exec(struct cpu *c, unsigned esc, unsigned modrm, void *mem)
{
    const uint8_t *at = modrm >= 0xc0
        ? hv_x87_reg_stubs + ((size_t)esc * 64 + (modrm - 0xc0)) * X87_STUB_BYTES
        : hv_x87_mem_stubs + ((size_t)esc * 8 + ((modrm >> 3) & 7)) * X87_STUB_BYTES;
    x87_stub *stub;
    memcpy(&stub, &at, sizeof(stub));
    uint64_t out = 0, in = 0;
    if ((esc == 2 || esc == 3) && modrm >= 0xc0 && modrm < 0xe0)
        in = (host_flags() & ~(uint64_t)ARITH_FLAGS) | (emu_flags(c) & ARITH_FLAGS);
    if (!c->x87_live)
        emu_x87_load(c);
    stub(NULL, mem, &out, &in);
    return (uint32_t)out & ARITH_FLAGS;
}

void emu_x87_load(struct cpu *c)
{
    __asm__ volatile("fnstcw %0\n\tfrstor %1"
                     : "=m"(c->x87_host_cw) : "m"(*(const uint8_t (*)[108])c->x87));
    c->x87_live = true;
}

void emu_x87_save(struct cpu *c)
{
    __asm__ volatile("fnsave %0\n\tfldcw %1"
                     : "=m"(*(uint8_t (*)[108])c->x87) : "m"(c->x87_host_cw));
    c->x87_live = false;
    emu_x87_put_pointers(c, c->x87);
}

/* FIP, FCS, FOP, FDP and FDS where FNSTENV and FNSAVE store them (the
 * 32-bit protected-mode layout: 12, 16, 18, 20, 24). */
void emu_x87_put_pointers(const struct cpu *c, uint8_t *env)
{
    put_le32(env + 12, c->fpu_ip);
    put_le16(env + 16, c->fpu_cs);
    put_le16(env + 18, c->fpu_op);
    put_le32(env + 20, c->fpu_dp);
    put_le32(env + 24, c->fpu_ds);
}

void emu_x87_get_pointers(struct cpu *c, const uint8_t *env)
{
    c->fpu_ip = le32(env + 12);
    c->fpu_cs = (uint16_t)le16(env + 16);
    c->fpu_op = (uint16_t)(le16(env + 18) & 0x7ffu);
    c->fpu_dp = le32(env + 20);
    c->fpu_ds = (uint16_t)le16(env + 24);
}

void emu_x87_init(struct cpu *c)
{
    /* FNINIT's state: CW 0x037f, SW 0, every register empty (SDM vol. 1,
     * table 8-3); the rest of the image is zero. */
    memset(c->x87, 0, sizeof(c->x87));
    c->x87[0] = 0x7f;
    c->x87[1] = 0x03;
    c->x87[8] = 0xff;
    c->x87[9] = 0xff;
    c->x87_live = false;
    c->x87_watch = false;
    c->fpu_ip = c->fpu_dp = 0;
    c->fpu_cs = c->fpu_op = c->fpu_ds = 0;
}

/* A waiting instruction (x87, FWAIT or MMX) and a pending unmasked
 * exception: #MF with CR0.NE set; with it clear, FERR# (dev_ferr.c) stops
 * the instruction until IRQ 13's handler writes port 0xF0 (IGNNE#), after
 * which it runs as if nothing were pending. */
int emu_x87_wait(struct cpu *c, const struct insn *i)
{
    if (HV_LIKELY(!emu_x87_pending(c)))
        return X87_WAIT_GO;
    if (c->cr0 & HV_CR0_NE) {
        emu_fault_ret(c, i, HV_VEC_MF, 0, 0);
        return X87_WAIT_STOP;
    }
    switch (c->g->ferr) {
    case HV_FERR_IDLE:
        emu_fault_ret(c, i, 0, 0, 0);
        c->trap->kind = HV_TRAP_FERR;
        return X87_WAIT_STOP;
    case HV_FERR_ASSERTED:
        emu_unsupported(c, i, "frozen on FERR#: x87 exception pending, CR0.NE clear, "
                        "IRQ 13 not taken");
        return X87_WAIT_STOP;
    default:
        return X87_WAIT_IGNORE;
    }
}

/* IGNNE#: the instruction runs with the pending exception (its flags, SF,
 * ES and B) taken out of the status word, and put back after it. */
uint32_t emu_x87_hold(struct cpu *c)
{
    if (c->x87_live)
        emu_x87_save(c);
    uint32_t sw = le16(c->x87 + 4), held = sw & 0x80ffu;
    put_le16(c->x87 + 4, sw & ~held);
    return held;
}

void emu_x87_unhold(struct cpu *c, uint32_t held)
{
    if (c->x87_live)
        emu_x87_save(c);
    put_le16(c->x87 + 4, le16(c->x87 + 4) | held);
    emu_x87_rewatch(c);
}
