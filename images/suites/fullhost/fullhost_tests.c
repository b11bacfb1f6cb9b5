/*
 * fullhost_tests.c - guest test cases that use the full host: each installs
 * its own gates, timer or page tables, and the pytest plugin runs each in a
 * fresh guest, so none of that leaks into the next test.  Under the Linux
 * target there is no hypervisor, so each test skips.
 */
#include <hv_irq.h>
#include <hv_paging.h>
#include <hv_test.h>

static void need_hv(void)
{
    if (hv_flush_async() == -HV_ENOSYS)
        HV_SKIP("needs the hv host (interrupts, timer, paging)");
}

static volatile unsigned ticks;

static void on_timer(struct hv_irq_frame *f)
{
    (void)f;
    ticks++;
}

HV_TEST(timer_interrupt_wakes_halt)
{
    need_hv();
    HV_ASSERT_EQ(hv_irq_register(HV_IRQ_VECTOR(HV_IRQ_TIMER), on_timer), 0);
    HV_ASSERT_EQ(hv_irq_install(HV_IRQ_VECTOR(HV_IRQ_TIMER), HV_GATE_INTERRUPT), 0);
    uint64_t t0 = hv_clock();
    HV_ASSERT_EQ(hv_timer_oneshot(1000000), 0);
    HV_ASSERT_EQ(hv_halt(), 0);
    HV_ASSERT_EQ(ticks, 1u);
    HV_ASSERT_GE(hv_clock() - t0, 1000000u);
}

HV_TEST(no_gate_is_left_from_another_test)
{
    need_hv();
    /* A fresh guest: the timer gate of the test above is not installed, so an
     * IRQ 0 stays pending and HALT has nothing to wait for but the timer. */
    HV_ASSERT_EQ(hv_guest_data_init(), 0);
    HV_ASSERT_EQ(hv_timer_oneshot(1000), 0);
    for (volatile int spin = 0; spin < 2000; spin++)
        ;
    HV_ASSERT_EQ(hv_irq_pending() & 1u, 1u);
    HV_ASSERT_EQ(ticks, 0u);
}

static volatile uint32_t last_cr2;

static void on_divide(struct hv_irq_frame *f)
{
    f->eip += 2;                /* skip the 2-byte `div %ecx` */
    f->eax = 0xdead;
}

HV_TEST(divide_error_is_delivered_to_the_guest)
{
    need_hv();
    HV_ASSERT_EQ(hv_irq_register(HV_VEC_DE, on_divide), 0);
    HV_ASSERT_EQ(hv_irq_install(HV_VEC_DE, HV_GATE_TRAP), 0);
    uint32_t eax = 1, edx = 0, zero = 0;
    __asm__ volatile("div %2" : "+a"(eax), "+d"(edx) : "c"(zero));
    HV_ASSERT_EQ(eax, 0xdeadu);
}

static bool on_fault(uint32_t cr2, uint32_t error, struct hv_irq_frame *f)
{
    (void)error;
    (void)f;
    last_cr2 = cr2;
    return hv_pf_map_zero(hv_paging_pgdir(), cr2 & ~0xfffu, HV_PTE_P | HV_PTE_RW) == 0;
}

HV_TEST(page_fault_handler_maps_on_demand)
{
    need_hv();
    uint32_t *pgdir = hv_pt_new();
    HV_ASSERT_NE(pgdir, NULL);
    HV_ASSERT_EQ(hv_pt_identity(pgdir, 0, 16u << 20, HV_PTE_P | HV_PTE_RW | HV_PTE_PS), 0);
    HV_ASSERT_EQ(hv_pt_identity_stack(pgdir, 64u << 10, HV_PTE_P | HV_PTE_RW), 0);
    HV_ASSERT_EQ(hv_pf_install(on_fault), 0);
    HV_ASSERT_EQ(hv_paging_enable(pgdir), 0);
    volatile uint32_t *p = (volatile uint32_t *)0x01800010u;
    *p = 1234;
    HV_ASSERT_EQ(last_cr2, 0x01800010u);
    HV_ASSERT_EQ(*p, 1234u);
}
