/*
 * pic_pit.c - a test kernel with the classic PC timer set-up: remap the
 * 8259 pair to vectors 0x20/0x28, unmask IRQ 0 only, program 8254 channel 0
 * as a 100 Hz rate generator, and sleep in hlt until ten ticks have come,
 * ending each with an EOI.  It also reads the PIT count back (latched) and
 * the PIC's ISR inside the handler.  Prints through port 0xE9.
 */
#include "kernel.h"

static uint64_t idt[256] __attribute__((aligned(8)));
static volatile unsigned ticks;
static volatile uint8_t isr_seen;

void on_timer(void)
{
    if (ticks == 0) {
        outb(0x20, 0x0b);           /* OCW3: read ISR */
        isr_seen = inb(0x20);
        outb(0x20, 0x0a);           /* back to IRR */
    }
    ticks++;
    outb(0x20, 0x20);               /* non-specific EOI */
}

void timer_stub(void);
__asm__(".globl timer_stub\ntimer_stub:\n\tpushal\n\tcld\n\tcall on_timer\n\tpopal\n\tiret\n");

static uint16_t pit_read(void)
{
    outb(0x43, 0x00);               /* latch channel 0 */
    uint8_t lo = inb(0x40);
    return (uint16_t)(lo | inb(0x40) << 8);
}

void kmain(void)
{
    uint16_t cs;
    __asm__ volatile("movw %%cs, %0" : "=r"(cs));
    idt[0x20] = gate(timer_stub, cs, 0x8e);
    load_idt(idt, sizeof(idt));

    outb(0x20, 0x11); outb(0xa0, 0x11);     /* ICW1: edge, cascade, ICW4 */
    outb(0x21, 0x20); outb(0xa1, 0x28);     /* ICW2: vector bases */
    outb(0x21, 0x04); outb(0xa1, 0x02);     /* ICW3: slave on IR2 */
    outb(0x21, 0x01); outb(0xa1, 0x01);     /* ICW4: 8086 mode */
    outb(0x21, 0xfe); outb(0xa1, 0xff);     /* only IRQ 0 */
    puts("pic: imr master=");
    hex(inb(0x21), 2);
    puts(" slave=");
    hex(inb(0xa1), 2);
    puts("\n");

    uint16_t divisor = 11932;               /* 1193182 Hz / 100 */
    outb(0x43, 0x34);                       /* channel 0, LSB then MSB, mode 2 */
    outb(0x40, (uint8_t)divisor);
    outb(0x40, (uint8_t)(divisor >> 8));
    uint16_t a = pit_read();
    for (volatile int k = 0; k < 20000; k++)
        ;
    uint16_t b = pit_read();
    puts(a != b && a <= divisor && b <= divisor ? "pit: counting\n" : "pit: NOT counting\n");

    __asm__ volatile("sti");
    while (ticks < 10)
        __asm__ volatile("hlt");
    __asm__ volatile("cli");
    puts("ticks=");
    hex(ticks, 2);
    puts(" isr in handler=");
    hex(isr_seen, 2);
    puts("\nkernel: powering off\n");
    power_off();
}

static uint8_t stack[8192] __attribute__((aligned(16), used));
KERNEL_ENTRY(stack, 8192);
