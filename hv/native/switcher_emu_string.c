/*
 * switcher_emu_string.c: MOVS, CMPS, STOS, LODS, SCAS with REP/REPE/REPNE
 * (Intel SDM vol. 2, "REP/REPE/REPZ/REPNE/REPNZ").
 *
 * A repeated instruction retires as one instruction.  If an iteration faults,
 * ESI/EDI/ECX describe the work already done, so the instruction restarts
 * where it stopped, as on hardware.  Forward MOVS and STOS over RAM that holds
 * no code take a bulk path.
 */
#include "switcher_emu.h"

enum { STR_MOVS, STR_CMPS, STR_STOS, STR_LODS, STR_SCAS };

/* One iteration, with the source at DS:ESI (or the override's segment) and
 * the destination at ES:EDI; returns false after raising a fault. */
static bool str_step(struct cpu *c, const struct insn *i, int sz, int32_t step)
{
    uint32_t si = c->r[HV_ESI], di = c->r[HV_EDI], v;
    uint32_t src = LIN(i->seg, si), dst = LIN(HV_ES, di), n = (uint32_t)sz;
    switch (i->op) {
    case STR_MOVS:
        if (!access_ok(c, i, i->seg, src, n, false) || !access_ok(c, i, HV_ES, dst, n, true))
            return false;
        st(c, dst, sz, ld(c, src, sz));
        c->r[HV_ESI] = si + (uint32_t)step;
        c->r[HV_EDI] = di + (uint32_t)step;
        return true;
    case STR_CMPS:
        if (!access_ok(c, i, i->seg, src, n, false) || !access_ok(c, i, HV_ES, dst, n, false))
            return false;
        alu(c, ALU_CMP, sz, ld(c, src, sz), ld(c, dst, sz));
        c->r[HV_ESI] = si + (uint32_t)step;
        c->r[HV_EDI] = di + (uint32_t)step;
        return true;
    case STR_STOS:
        if (!access_ok(c, i, HV_ES, dst, n, true))
            return false;
        st(c, dst, sz, getreg(c, sz, HV_EAX));
        c->r[HV_EDI] = di + (uint32_t)step;
        return true;
    case STR_LODS:
        if (!access_ok(c, i, i->seg, src, n, false))
            return false;
        setreg(c, sz, HV_EAX, ld(c, src, sz));
        c->r[HV_ESI] = si + (uint32_t)step;
        return true;
    default:
        if (!access_ok(c, i, HV_ES, dst, n, false))
            return false;
        v = ld(c, dst, sz);
        alu(c, ALU_CMP, sz, getreg(c, sz, HV_EAX), v);
        c->r[HV_EDI] = di + (uint32_t)step;
        return true;
    }
}

#if !EMU_PAGED
static bool range_has_code(const struct cpu *c, uint32_t a, uint32_t len)
{
    for (uint32_t p = a >> 12; p <= (a + len - 1) >> 12; p++)
        if (c->codemap[p])
            return true;
    return false;
}

/* rep movs / rep stos forward, all in RAM, no code: do it in one go. */
static bool str_bulk(struct cpu *c, const struct insn *i, int sz)
{
    uint32_t n = c->r[HV_ECX], si = c->r[HV_ESI], di = c->r[HV_EDI];
    if (n > c->ram_size / (uint32_t)sz)
        return false;
    uint32_t len = n * (uint32_t)sz;
    if (!mem_ok(c, di, len) || range_has_code(c, di, len))
        return false;
    if (i->op == STR_MOVS) {
        if (!mem_ok(c, si, len))
            return false;
        if (di > si && di < si + len)
            return false;           /* overlap replicates a pattern: go slowly */
        memmove(c->ram + di, c->ram + si, len);
        c->r[HV_ESI] = si + len;
    } else if (sz == 1) {
        memset(c->ram + di, (int)(c->r[HV_EAX] & 0xff), len);
    } else {
        uint32_t v = c->r[HV_EAX];
        for (uint32_t k = 0; k < len; k += (uint32_t)sz)
            memcpy(c->ram + di + k, &v, (size_t)sz);
    }
    c->r[HV_EDI] = di + len;
    c->r[HV_ECX] = 0;
    return true;
}
#else
/* With paging on or segments that are not flat, every iteration goes
 * through the segment checks and the TLB. */
static bool str_bulk(struct cpu *c, const struct insn *i, int sz)
{
    (void)c;
    (void)i;
    (void)sz;
    return false;
}
#endif

OP(op_string)
{
    int sz = i->size;
    int32_t step = (c->eflags & HV_DF) ? -sz : sz;
    if (!(i->pfx & (PFX_REP | PFX_REPNE))) {
        if (!str_step(c, i, sz, step))
            STOP();
        NEXT();
    }
    if (step > 0 && (i->op == STR_MOVS || i->op == STR_STOS) && c->r[HV_ECX] > 1 &&
        str_bulk(c, i, sz))
        NEXT();
    bool cmp = i->op == STR_CMPS || i->op == STR_SCAS;
    while (c->r[HV_ECX] != 0) {
        if (!str_step(c, i, sz, step))
            STOP();
        c->r[HV_ECX]--;
        if (cmp) {
            bool zf = c->cc_res == 0;       /* str_step left a CC_SUB record */
            if ((i->pfx & PFX_REP) ? !zf : zf)
                break;
        }
    }
    NEXT();
}

/*
 * INS and OUTS (op 0 / 1), with REP: port I/O of memory bytes, words or
 * dwords at ES:EDI or DS:ESI, port in DX (SDM vol. 2).  Each transfer goes
 * straight to the host's port bus, in order, so a device sees exactly what
 * a loop of IN or OUT would give it; a device that stops the guest (a
 * poweroff) ends the instruction after that transfer.
 */
OP(op_port_string)
{
    IOPL_CHECK();
    int sz = i->size;
    int32_t step = (c->eflags & HV_DF) ? -sz : sz;
    bool rep = i->pfx & (PFX_REP | PFX_REPNE);
    uint16_t port = (uint16_t)c->r[HV_EDX];
    while (!rep || c->r[HV_ECX] != 0) {
        if (i->op == 0) {
            uint32_t di = c->r[HV_EDI], dst = LIN(HV_ES, di);
            if (!access_ok(c, i, HV_ES, dst, (uint32_t)sz, true))
                STOP();
            st(c, dst, sz, hv_port_in(c->g, port, (unsigned)sz));
            c->r[HV_EDI] = di + (uint32_t)step;
        } else {
            uint32_t si = c->r[HV_ESI], src = LIN(i->seg, si);
            if (!access_ok(c, i, i->seg, src, (uint32_t)sz, false))
                STOP();
            hv_port_out(c->g, port, (unsigned)sz, ld(c, src, sz));
            c->r[HV_ESI] = si + (uint32_t)step;
        }
        if (rep)
            c->r[HV_ECX]--;
        if (!rep || c->g->stop != HV_RUNNING)
            break;
    }
    if (c->g->stop != HV_RUNNING) {
        emu_exit_at(c, i, HV_TRAP_STOP, i->next);
        STOP();
    }
    NEXT();
}
