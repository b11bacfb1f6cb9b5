"""What a guest learns about its CPU: CPUID identity, the TSC and the clock.

Under the emu switcher both the TSC and the CLOCK hypercall derive from the
instruction count, so they advance with the guest and repeat exactly.
"""

import re


def run_identity(guest_images):
    import hv

    return hv.run(guest_images / "identity.elf", timeout=10)


def test_cpuid_identifies_hv(native, guest_images):
    ex = run_identity(guest_images)
    assert ex.status == 0, ex.reason
    text = ex.console.decode()
    assert "max leaf 1 vendor 'hvfarm-ia32 '" in text
    # EDX: FPU (bit 0), PSE, TSC, MSR, CX8, SEP, CMOV, CLFSH, MMX, FXSR, SSE, SSE2;
    # ECX: SSE3, SSSE3, "hypervisor" (bit 31).
    assert "leaf 1: eax 00000630 ecx 80000201 edx 07888939" in text
    assert "hypervisor leaf max 40000000 signature 'hv-emu'" in text


def test_tsc_and_clock_are_virtual_and_repeatable(native, guest_images):
    first, second = run_identity(guest_images), run_identity(guest_images)
    assert first.console == second.console
    t0, t1 = map(int, re.search(r"tsc (\d+) then (\d+)", first.console.decode()).groups())
    clock = int(re.search(r"clock (\d+)", first.console.decode()).group(1))
    assert 0 < t0 < t1 < clock <= first.instructions
