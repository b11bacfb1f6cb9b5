/*
 * module.c: the CPython binding, hv._native.  The only file that includes
 * Python.h.
 *
 * hv._native.Machine wraps one struct hv_guest.  Machine.run() releases the
 * GIL for the whole run; the host calls back here (re-taking the GIL) only to
 * stream console bytes to a Python callable and, every few milliseconds, to
 * let Python see signals such as Ctrl-C.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "hv.h"

typedef struct {
    PyTypeObject *machine_type;
    PyTypeObject *bus_type;
    PyTypeObject *snapshot_type;
    PyObject *memory_error;         /* raised by Bus.read/write outside RAM */
} module_state;

typedef struct {
    PyObject_HEAD
    struct hv_guest *g;
    int running;
    /* During a run: where console bytes go, the devices (a tuple of
     * (name, handler) pairs), the Bus handed to them, and an exception to
     * re-raise. */
    PyObject *console_cb;
    PyObject *devices;
    PyObject *bus;
    PyObject *pending_exc;
} Machine;

/* A machine at one instant (Machine.snapshot); opaque to Python. */
typedef struct {
    PyObject_HEAD
    struct hv_snapshot *s;
} Snapshot;

/* What a device sees of the guest during one NOTIFY: checked physical
 * memory and the IRQ lines.  `g` is NULL outside a device call. */
typedef struct {
    PyObject_HEAD
    struct hv_guest *g;
    PyObject *memory_error;
} Bus;

static void save_exception(Machine *m)
{
    if (m->pending_exc) {
        PyErr_Clear();
        return;
    }
#if PY_VERSION_HEX >= 0x030C0000
    m->pending_exc = PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    m->pending_exc = value;
#endif
}

static void restore_exception(Machine *m)
{
    PyObject *exc = m->pending_exc;
    m->pending_exc = NULL;
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
#endif
}

/* ---- host callbacks (called without the GIL) ---- */

static int cb_console(void *ctx, const uint8_t *buf, size_t len)
{
    Machine *m = ctx;
    PyGILState_STATE st = PyGILState_Ensure();
    int failed = 0;
    if (!m->pending_exc) {
        PyObject *r = PyObject_CallFunction(m->console_cb, "y#", (const char *)buf,
                                            (Py_ssize_t)len);
        if (!r) {
            save_exception(m);
            failed = 1;
        }
        Py_XDECREF(r);
    }
    PyGILState_Release(st);
    return failed;
}

static int cb_check_signals(void *ctx)
{
    Machine *m = ctx;
    PyGILState_STATE st = PyGILState_Ensure();
    if (!m->pending_exc && PyErr_CheckSignals() < 0)
        save_exception(m);
    int stop = m->pending_exc != NULL;
    PyGILState_Release(st);
    return stop;
}

static int parse_u32(PyObject *o, const char *what, uint32_t *out);

/* A device's name for a kill reason (never NULL). */
static const char *device_name(PyObject *name)
{
    const char *s = PyUnicode_AsUTF8(name);
    if (!s) {
        PyErr_Clear();
        s = "?";
    }
    return s;
}

/* NOTIFY: call device `index` with the GIL held for that call only. */
static void cb_notify(void *ctx, struct hv_guest *g, uint32_t index, uint32_t req,
                      uint32_t *result)
{
    Machine *m = ctx;
    PyGILState_STATE st = PyGILState_Ensure();
    PyObject *pair = PyTuple_GET_ITEM(m->devices, (Py_ssize_t)index);
    PyObject *name = PyTuple_GET_ITEM(pair, 0), *handler = PyTuple_GET_ITEM(pair, 1);
    Bus *bus = (Bus *)m->bus;
    bus->g = g;
    PyObject *r = PyObject_CallFunction(handler, "OI", m->bus, (unsigned int)req);
    bus->g = NULL;
    if (!r) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            save_exception(m);              /* KeyboardInterrupt and friends stop the run */
            hv_kill(g, "interrupted");
        } else if (g->stop != HV_RUNNING) {
            PyErr_Clear();                  /* the bus killed it already: that reason stands */
        } else {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            PyObject *text = value ? PyObject_Str(value) : NULL;
            const char *msg = text ? PyUnicode_AsUTF8(text) : NULL;
            if (!msg)
                PyErr_Clear();
            hv_kill(g, "device %u (%s) raised %s%s%s", index, device_name(name),
                    ((PyTypeObject *)type)->tp_name, msg && *msg ? ": " : "", msg ? msg : "");
            PyErr_Clear();
            Py_XDECREF(text);
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
        }
    } else {
        long long v = PyLong_Check(r) ? PyLong_AsLongLong(r) : 0;
        if (!PyLong_Check(r) || PyErr_Occurred() || v < INT32_MIN || v > (long long)UINT32_MAX) {
            PyErr_Clear();
            PyObject *repr = PyObject_Repr(r);
            const char *text = repr ? PyUnicode_AsUTF8(repr) : "?";
            hv_kill(g, "device %u (%s) returned %s, not an int", index, device_name(name),
                    text ? text : "?");
            PyErr_Clear();
            Py_XDECREF(repr);
        } else {
            *result = (uint32_t)v;
        }
        Py_DECREF(r);
    }
    PyGILState_Release(st);
}

/* ---- Bus ---- */


static struct hv_guest *bus_guest(Bus *self)
{
    if (!self->g)
        PyErr_SetString(PyExc_RuntimeError, "the bus is only usable during the device's call");
    return self->g;
}

static PyObject *Bus_read(Bus *self, PyObject *args)
{
    PyObject *addr_o, *len_o;
    uint32_t addr, len;
    if (!PyArg_ParseTuple(args, "OO:read", &addr_o, &len_o) ||
        parse_u32(addr_o, "gpa", &addr) || parse_u32(len_o, "length", &len))
        return NULL;
    struct hv_guest *g = bus_guest(self);
    if (!g)
        return NULL;
    const uint8_t *p = hv_gpa(g, addr, len);
    if (!p) {
        hv_kill(g, "bad read address 0x%08x len %u", addr, len);
        PyErr_Format(self->memory_error, "read of %u bytes at 0x%08x is outside guest RAM", len,
                     addr);
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)p, len);
}

static PyObject *Bus_write(Bus *self, PyObject *args)
{
    PyObject *addr_o;
    uint32_t addr;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "Oy*:write", &addr_o, &buf))
        return NULL;
    PyObject *ret = NULL;
    struct hv_guest *g = parse_u32(addr_o, "gpa", &addr) ? NULL : bus_guest(self);
    if (!g)
        goto error;
    if ((uint64_t)buf.len > UINT32_MAX || !hv_gpa(g, addr, (uint32_t)buf.len)) {
        hv_kill(g, "bad write address 0x%08x len %zd", addr, buf.len);
        PyErr_Format(self->memory_error, "write of %zd bytes at 0x%08x is outside guest RAM",
                     buf.len, addr);
        goto error;
    }
    hv_write(g, addr, buf.buf, (uint32_t)buf.len);
    ret = Py_NewRef(Py_None);
error:
    PyBuffer_Release(&buf);
    return ret;
}

static PyObject *Bus_raise_irq(Bus *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = { "irq", "delay_ns", NULL };
    PyObject *n_o, *delay_o = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:raise_irq", kwlist, &n_o, &delay_o))
        return NULL;
    long n = PyLong_Check(n_o) && !PyBool_Check(n_o) ? PyLong_AsLong(n_o) : -1;
    if (PyErr_Occurred())
        PyErr_Clear();
    if (n < 0 || n > 31) {
        PyErr_Format(PyExc_ValueError, "IRQ must be an int between 0 and 31, not %R", n_o);
        return NULL;
    }
    unsigned long long delay = 0;
    if (delay_o) {
        delay = PyLong_Check(delay_o) && !PyBool_Check(delay_o)
                    ? PyLong_AsUnsignedLongLong(delay_o) : (unsigned long long)-1;
        if (PyErr_Occurred())
            PyErr_Clear();
        if (delay > (1ull << 62)) {
            PyErr_Format(PyExc_ValueError, "delay_ns must be an int from 0 to 2**62, not %R",
                         delay_o);
            return NULL;
        }
    }
    struct hv_guest *g = bus_guest(self);
    if (!g)
        return NULL;
    if (!hv_irq_schedule(g, (unsigned)n, delay)) {
        PyErr_Format(PyExc_ValueError, "%d IRQs are already scheduled; deliver some first",
                     HV_EVENTS_MAX);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Bus_get_memory_size(Bus *self, void *closure)
{
    (void)closure;
    struct hv_guest *g = bus_guest(self);
    return g ? PyLong_FromUnsignedLong(g->live.ram_size) : NULL;
}

static PyObject *Bus_get_clock_ns(Bus *self, void *closure)
{
    (void)closure;
    struct hv_guest *g = bus_guest(self);
    return g ? PyLong_FromUnsignedLongLong(hv_guest_clock(g)) : NULL;
}

static void Bus_dealloc(Bus *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_XDECREF(self->memory_error);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef Bus_methods[] = {
    { "read", (PyCFunction)Bus_read, METH_VARARGS,
      "read(gpa, length) -> bytes: guest-physical; outside RAM kills the guest" },
    { "write", (PyCFunction)Bus_write, METH_VARARGS,
      "write(gpa, data): guest-physical; outside RAM kills the guest" },
    { "raise_irq", (PyCFunction)(void (*)(void))Bus_raise_irq, METH_VARARGS | METH_KEYWORDS,
      "raise_irq(n, delay_ns=0): IRQ n (0..31) becomes pending now, or delay_ns later on "
      "the guest clock" },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef Bus_getset[] = {
    { "memory_size", (getter)Bus_get_memory_size, NULL, "guest RAM in bytes", NULL },
    { "clock_ns", (getter)Bus_get_clock_ns, NULL, "the guest clock now, in ns", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyType_Slot Bus_slots[] = {
    { Py_tp_dealloc, Bus_dealloc },
    { Py_tp_methods, Bus_methods },
    { Py_tp_getset, Bus_getset },
    { Py_tp_doc, "The guest as a device sees it during one NOTIFY call." },
    { 0, NULL },
};

static PyType_Spec Bus_spec = {
    .name = "hv._native.Bus",
    .basicsize = sizeof(Bus),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Bus_slots,
};

/* ---- Snapshot ---- */

static void Snapshot_dealloc(Snapshot *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    hv_snapshot_free(self->s);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *Snapshot_get_instructions(Snapshot *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->s->instructions);
}

static PyObject *Snapshot_get_memory_size(Snapshot *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->s->ram_size);
}

static PyObject *Snapshot_get_nbytes(Snapshot *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(hv_snapshot_bytes(self->s));
}

static PyObject *Snapshot_repr(Snapshot *self)
{
    return PyUnicode_FromFormat("<hv snapshot at instruction %llu, %zu bytes>",
                                (unsigned long long)self->s->instructions,
                                hv_snapshot_bytes(self->s));
}

static PyGetSetDef Snapshot_getset[] = {
    { "instructions", (getter)Snapshot_get_instructions, NULL,
      "the machine's instruction count when it was taken", NULL },
    { "memory_size", (getter)Snapshot_get_memory_size, NULL, "guest RAM in bytes", NULL },
    { "nbytes", (getter)Snapshot_get_nbytes, NULL,
      "host memory it holds alone (RAM pages it shares with other snapshots not counted)",
      NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyType_Slot Snapshot_slots[] = {
    { Py_tp_dealloc, Snapshot_dealloc },
    { Py_tp_getset, Snapshot_getset },
    { Py_tp_repr, Snapshot_repr },
    { Py_tp_doc, "A machine at one instant: Machine.snapshot() makes one, "
                 "Machine.restore() puts it back." },
    { 0, NULL },
};

static PyType_Spec Snapshot_spec = {
    .name = "hv._native.Snapshot",
    .basicsize = sizeof(Snapshot),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Snapshot_slots,
};

/* ---- Machine ---- */

static PyObject *Machine_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = { "memory_bytes", "switcher", NULL };
    unsigned long long mem;
    const char *swname = "emu";
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "K|s", kwlist, &mem, &swname))
        return NULL;
    if (mem % HV_PAGE_SIZE || mem < HV_MEM_MIN || mem > HV_MEM_MAX) {
        PyErr_Format(PyExc_ValueError,
                     "memory_bytes must be a multiple of 4096 between %u and %u, not %llu",
                     HV_MEM_MIN, HV_MEM_MAX, mem);
        return NULL;
    }
    const struct hv_switcher_ops *ops = hv_switcher_find(swname);
    if (!ops) {
        char names[128] = "";
        size_t used = 0;
        for (size_t k = 0; hv_switchers[k] && used < sizeof(names); k++)
            used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                                     k ? ", " : "", hv_switchers[k]->name);
        PyErr_Format(PyExc_ValueError, "unknown switcher '%s' (available: %s)", swname, names);
        return NULL;
    }
    Machine *self = (Machine *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    char err[256];
    self->g = hv_guest_create((uint32_t)mem, ops, err, sizeof(err));
    if (!self->g) {
        Py_DECREF(self);
        PyErr_SetString(PyExc_MemoryError, err);
        return NULL;
    }
    return (PyObject *)self;
}

static void Machine_dealloc(Machine *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    hv_guest_destroy(self->g);
    Py_XDECREF(self->pending_exc);
    Py_XDECREF(self->devices);
    Py_XDECREF(self->bus);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int check_idle(Machine *self)
{
    if (self->running) {
        PyErr_SetString(PyExc_RuntimeError, "the machine is running in another thread");
        return -1;
    }
    return 0;
}

static int parse_u32(PyObject *o, const char *what, uint32_t *out)
{
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (PyErr_Occurred() || v > 0xffffffffull) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s must be a 32-bit unsigned integer, not %R", what, o);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static PyObject *Machine_load(Machine *self, PyObject *args)
{
    PyObject *paddr_o, *memsz_o;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "Oy*O:load", &paddr_o, &buf, &memsz_o))
        return NULL;
    uint32_t paddr, memsz;
    PyObject *ret = NULL;
    char err[256];
    if (check_idle(self) || parse_u32(paddr_o, "paddr", &paddr) ||
        parse_u32(memsz_o, "memsz", &memsz))
        goto error;
    if ((unsigned long long)buf.len > memsz) {
        PyErr_Format(PyExc_ValueError, "segment at 0x%08x: %zd bytes of data exceed memsz 0x%x",
                     paddr, buf.len, memsz);
        goto error;
    }
    if (!hv_load_segment(self->g, paddr, buf.buf, (uint32_t)buf.len, memsz, err, sizeof(err))) {
        PyErr_SetString(PyExc_ValueError, err);
        goto error;
    }
    ret = Py_NewRef(Py_None);
error:
    PyBuffer_Release(&buf);
    return ret;
}

static PyObject *Machine_boot(Machine *self, PyObject *args)
{
    PyObject *entry_o, *mods_addr_o = NULL, *mods_count_o = NULL;
    const char *cmd;
    Py_ssize_t cmdlen;
    if (!PyArg_ParseTuple(args, "Oy#|OO:boot", &entry_o, &cmd, &cmdlen, &mods_addr_o,
                          &mods_count_o))
        return NULL;
    uint32_t entry, mods_addr = 0, mods_count = 0;
    char err[256];
    if (check_idle(self) || parse_u32(entry_o, "entry", &entry) ||
        (mods_addr_o && parse_u32(mods_addr_o, "mods_addr", &mods_addr)) ||
        (mods_count_o && parse_u32(mods_count_o, "mods_count", &mods_count)))
        return NULL;
    if (!hv_boot(self->g, entry, cmd, (size_t)cmdlen, mods_addr, mods_count, err,
                 sizeof(err))) {
        PyErr_SetString(PyExc_ValueError, err);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *str_or_none(const char *s)
{
    if (!s)
        return Py_NewRef(Py_None);
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* TEST_RESULT reports as a tuple of (outcome, file, line, expr, lhs, rhs, message). */
static PyObject *test_results(const struct hv_guest *g)
{
    PyObject *list = PyTuple_New((Py_ssize_t)g->nresults);
    for (size_t k = 0; list && k < g->nresults; k++) {
        const struct hv_test_result *r = &g->live.results[k];
        PyObject *item = Py_BuildValue("(iNINNNN)", (int)r->outcome, str_or_none(r->file),
                                       r->line, str_or_none(r->expr), str_or_none(r->lhs),
                                       str_or_none(r->rhs), str_or_none(r->message));
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyTuple_SET_ITEM(list, (Py_ssize_t)k, item);
    }
    return list;
}

static PyObject *run_guest(Machine *self, PyObject *timeout_o, PyObject *max_o,
                           PyObject *console, PyObject *devices_o, const char *clock,
                           int qemu_exit, Py_buffer *serial, int step,
                           unsigned long long stop_at);

static PyObject *Machine_run(Machine *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = { "timeout", "max_instructions", "console", "devices", "clock",
                              "qemu_exit", "serial_input", "serial_fd", "debugcon_fd", "step",
                              "stop_at", NULL };
    PyObject *timeout_o = Py_None, *max_o = Py_None, *console = Py_None, *devices_o = NULL;
    const char *clock = "virtual";
    int qemu_exit = 0;
    Py_buffer serial = { 0 };
    int serial_fd = -1, debugcon_fd = -1, step = 0;
    unsigned long long stop_at = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOOOspy*iipK:run", kwlist, &timeout_o,
                                     &max_o, &console, &devices_o, &clock, &qemu_exit, &serial,
                                     &serial_fd, &debugcon_fd, &step, &stop_at))
        return NULL;
    self->g->live.serial_fd = serial_fd < 0 ? -1 : serial_fd;
    self->g->live.debugcon_fd = debugcon_fd < 0 ? -1 : debugcon_fd;
    PyObject *ret = run_guest(self, timeout_o, max_o, console, devices_o, clock, qemu_exit,
                              &serial, step, stop_at);
    if (serial.obj)
        PyBuffer_Release(&serial);
    return ret;
}

/* Machine.run's body; `serial` (maybe empty) stays valid for the whole run. */
static PyObject *run_guest(Machine *self, PyObject *timeout_o, PyObject *max_o,
                           PyObject *console, PyObject *devices_o, const char *clock,
                           int qemu_exit, Py_buffer *serial, int step,
                           unsigned long long stop_at)
{
    if (check_idle(self))
        return NULL;
    struct hv_guest *g = self->g;
    if (g->stop != HV_RUNNING) {
        PyErr_SetString(PyExc_RuntimeError, "the guest has already stopped; boot a new Machine");
        return NULL;
    }
    double timeout = 0;
    if (timeout_o != Py_None) {
        timeout = PyFloat_AsDouble(timeout_o);
        if (PyErr_Occurred())
            return NULL;
        if (!(timeout > 0)) {
            PyErr_SetString(PyExc_ValueError, "timeout must be a positive number of seconds");
            return NULL;
        }
    }
    unsigned long long max_insns = 0;
    if (max_o != Py_None) {
        max_insns = PyLong_AsUnsignedLongLong(max_o);
        if (PyErr_Occurred())
            return NULL;
        if (max_insns == 0) {
            PyErr_SetString(PyExc_ValueError, "max_instructions must be positive");
            return NULL;
        }
    }

    enum hv_clock clk;
    if (strcmp(clock, "virtual") == 0) {
        clk = HV_CLOCK_VIRTUAL;
    } else if (strcmp(clock, "host") == 0) {
        clk = HV_CLOCK_HOST;
    } else {
        PyErr_Format(PyExc_ValueError, "clock must be 'virtual' or 'host', not '%s'", clock);
        return NULL;
    }
    PyObject *devices = devices_o && devices_o != Py_None
                            ? PySequence_Tuple(devices_o) : PyTuple_New(0);
    if (!devices)
        return NULL;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(devices); k++) {
        PyObject *d = PyTuple_GET_ITEM(devices, k);
        if (!PyTuple_Check(d) || PyTuple_GET_SIZE(d) != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(d, 0)) || !PyCallable_Check(PyTuple_GET_ITEM(d, 1))) {
            PyErr_Format(PyExc_TypeError, "devices[%zd] must be a (name, handler) pair", k);
            Py_DECREF(devices);
            return NULL;
        }
    }
    module_state *mst = PyType_GetModuleState(Py_TYPE(self));
    if (!self->bus) {
        Bus *bus = PyObject_New(Bus, mst->bus_type);
        if (!bus) {
            Py_DECREF(devices);
            return NULL;
        }
        bus->g = NULL;
        bus->memory_error = Py_NewRef(mst->memory_error);
        self->bus = (PyObject *)bus;
    }
    Py_XSETREF(self->devices, devices);

    struct hv_launcher l = { .ctx = self, .console_fd = -1, .check_signals = cb_check_signals,
                             .ndevices = (size_t)PyTuple_GET_SIZE(devices),
                             .notify = cb_notify };
    g->live.clock = clk;
    g->live.qemu_exit = qemu_exit != 0;
    g->live.serial_in.buf = serial->buf;
    g->live.serial_in.len = serial->obj ? (size_t)serial->len : 0;
    g->live.serial_in.pos = 0;
    if (PyLong_Check(console)) {
        long fd = PyLong_AsLong(console);
        if (PyErr_Occurred())
            return NULL;
        if (fd < 0 || fd > INT_MAX) {
            PyErr_SetString(PyExc_ValueError, "console file descriptor out of range");
            return NULL;
        }
        l.console_fd = (int)fd;
    } else if (console != Py_None) {
        if (!PyCallable_Check(console)) {
            PyErr_SetString(PyExc_TypeError, "console must be None, a file descriptor or a callable");
            return NULL;
        }
        l.console = cb_console;
    }

    uint64_t start = g->live.sw_ops->instructions(g->live.sw);
    g->live.max_instructions = max_insns ? start + max_insns : 0;
    g->live.launcher = &l;
    self->console_cb = console;
    self->running = 1;
    double t0 = hv_monotonic();
    g->live.deadline = timeout > 0 ? t0 + timeout : 0;
    g->live.debug_step = step != 0;
    g->live.debug_stop_at = stop_at;
    g->live.debug_reason = HV_DEBUG_NONE;
    Py_BEGIN_ALLOW_THREADS
    hv_run(g);
    Py_END_ALLOW_THREADS
    double elapsed = hv_monotonic() - t0;
    g->live.debug_step = false;
    g->live.debug_stop_at = 0;
    if (g->stop == HV_STOP_DEBUG)
        g->stop = HV_RUNNING;           /* paused for the debugger: run() goes on */
    self->running = 0;
    self->console_cb = NULL;
    g->live.launcher = NULL;
    g->live.serial_in.buf = NULL;                 /* the buffer is released after the run */
    g->live.serial_fd = g->live.debugcon_fd = -1; /* the caller closes them */
    g->live.serial_in.len = 0;

    if (self->pending_exc) {
        restore_exception(self);
        return NULL;
    }
    if (g->stop == HV_STOP_SIGNAL) {
        PyErr_SetNone(PyExc_KeyboardInterrupt);
        return NULL;
    }
    uint64_t insns = g->live.sw_ops->instructions(g->live.sw) - start;
    PyObject *status = g->stop == HV_STOP_EXIT ? PyLong_FromLong(g->status) : Py_NewRef(Py_None);
    PyObject *reason = g->stop == HV_STOP_KILLED ? PyUnicode_DecodeUTF8(g->reason,
                                                   (Py_ssize_t)strlen(g->reason), "replace")
                                                 : Py_NewRef(Py_None);
    PyObject *out = PyBytes_FromStringAndSize((const char *)g->live.console,
                                              (Py_ssize_t)g->console_len);
    PyObject *results = test_results(g);
    PyObject *ret = NULL;
    if (status && reason && out && results)
        ret = Py_BuildValue("(OOOKdOO)", status, reason, out, (unsigned long long)insns, elapsed,
                            g->stop == HV_STOP_RESTART ? Py_True : Py_False, results);
    Py_XDECREF(status);
    Py_XDECREF(reason);
    Py_XDECREF(out);
    Py_XDECREF(results);
    return ret;
}

static PyObject *Machine_read(Machine *self, PyObject *args)
{
    PyObject *addr_o, *len_o;
    if (!PyArg_ParseTuple(args, "OO:read", &addr_o, &len_o))
        return NULL;
    uint32_t addr, len;
    if (check_idle(self) || parse_u32(addr_o, "addr", &addr) || parse_u32(len_o, "length", &len))
        return NULL;
    const uint8_t *p = hv_gpa(self->g, addr, len);
    if (!p) {
        PyErr_Format(PyExc_ValueError, "read of %u bytes at 0x%08x is outside guest RAM (%u bytes)",
                     len, addr, self->g->live.ram_size);
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)p, len);
}

static PyObject *Machine_write(Machine *self, PyObject *args)
{
    PyObject *addr_o;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "Oy*:write", &addr_o, &buf))
        return NULL;
    uint32_t addr;
    PyObject *ret = NULL;
    if (check_idle(self) || parse_u32(addr_o, "addr", &addr))
        goto error;
    uint8_t *p = (uint64_t)buf.len <= UINT32_MAX ? hv_gpa(self->g, addr, (uint32_t)buf.len) : NULL;
    if (!p) {
        PyErr_Format(PyExc_ValueError, "write of %zd bytes at 0x%08x is outside guest RAM (%u bytes)",
                     buf.len, addr, self->g->live.ram_size);
        goto error;
    }
    memcpy(p, buf.buf, (size_t)buf.len);
    self->g->live.sw_ops->mem_written(self->g->live.sw, addr, (uint32_t)buf.len);
    ret = Py_NewRef(Py_None);
error:
    PyBuffer_Release(&buf);
    return ret;
}

/* ---- the debugger's view (hv/gdbstub.py) ---- */

static PyObject *Machine_set_breakpoints(Machine *self, PyObject *arg)
{
    if (check_idle(self))
        return NULL;
    PyObject *seq = PySequence_Fast(arg, "breakpoints must be a sequence of addresses");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    uint32_t *eips = PyMem_Calloc((size_t)n + 1, sizeof(uint32_t));
    PyObject *ret = NULL;
    if (!eips) {
        PyErr_NoMemory();
        goto error;
    }
    for (Py_ssize_t k = 0; k < n; k++)
        if (parse_u32(PySequence_Fast_GET_ITEM(seq, k), "a breakpoint", &eips[k]))
            goto error;
    self->g->live.sw_ops->set_breakpoints(self->g->live.sw, eips, (size_t)n);
    ret = Py_NewRef(Py_None);
error:
    PyMem_Free(eips);
    Py_DECREF(seq);
    return ret;
}

/* ---- coverage (hv/coverage.py) ---- */

static PyObject *Machine_coverage_on(Machine *self, PyObject *Py_UNUSED(arg))
{
    if (check_idle(self))
        return NULL;
    if (self->g->live.sw_ops->coverage_on(self->g->live.sw))
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

struct cov_list {
    PyObject *list;
    int failed;
};

static void cov_append(void *ctx, uint32_t start, uint32_t end, int64_t count)
{
    struct cov_list *l = ctx;
    if (l->failed)
        return;
    PyObject *t = Py_BuildValue("(IIL)", start, end, (long long)count);
    if (!t || PyList_Append(l->list, t))
        l->failed = 1;
    Py_XDECREF(t);
}

static void cov_append_branch(void *ctx, uint32_t eip, uint64_t taken, uint64_t not_taken)
{
    struct cov_list *l = ctx;
    if (l->failed)
        return;
    PyObject *t = Py_BuildValue("(IKK)", eip, (unsigned long long)taken,
                                (unsigned long long)not_taken);
    if (!t || PyList_Append(l->list, t))
        l->failed = 1;
    Py_XDECREF(t);
}

static PyObject *Machine_coverage_branches(Machine *self, PyObject *Py_UNUSED(arg))
{
    if (check_idle(self))
        return NULL;
    struct cov_list l = { PyList_New(0), 0 };
    if (!l.list)
        return NULL;
    self->g->live.sw_ops->coverage_branches(self->g->live.sw, cov_append_branch, &l);
    if (l.failed)
        Py_CLEAR(l.list);
    return l.list;
}

static PyObject *Machine_coverage(Machine *self, PyObject *Py_UNUSED(arg))
{
    if (check_idle(self))
        return NULL;
    struct cov_list l = { PyList_New(0), 0 };
    if (!l.list)
        return NULL;
    self->g->live.sw_ops->coverage_read(self->g->live.sw, cov_append, &l);
    if (l.failed)
        Py_CLEAR(l.list);
    return l.list;
}

static int parse_watch_kind(PyObject *o, enum hv_watch_kind *kind)
{
    static const char *const names[] = { NULL, "write", "read", "access" };
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    for (int k = HV_WATCH_WRITE; s && k <= HV_WATCH_ACCESS; k++)
        if (strcmp(s, names[k]) == 0) {
            *kind = (enum hv_watch_kind)k;
            return 0;
        }
    if (!PyErr_Occurred())
        PyErr_Format(PyExc_ValueError,
                     "a watchpoint's kind is 'write', 'read' or 'access', not %R", o);
    return -1;
}

static PyObject *Machine_set_watchpoints(Machine *self, PyObject *arg)
{
    if (check_idle(self))
        return NULL;
    PyObject *seq = PySequence_Fast(arg, "watchpoints must be a sequence of "
                                         "(addr, length[, kind])");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    uint32_t *v = PyMem_Calloc(2 * (size_t)n + 1, sizeof(uint32_t));
    enum hv_watch_kind *kinds = PyMem_Calloc((size_t)n + 1, sizeof(*kinds));
    PyObject *ret = NULL;
    if (!v || !kinds) {
        PyErr_NoMemory();
        goto error;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *t = PySequence_Fast_GET_ITEM(seq, k);
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 2 || PyTuple_GET_SIZE(t) > 3) {
            PyErr_SetString(PyExc_TypeError,
                            "a watchpoint is an (addr, length) or (addr, length, kind) tuple");
            goto error;
        }
        if (parse_u32(PyTuple_GET_ITEM(t, 0), "a watchpoint's address", &v[k]) ||
            parse_u32(PyTuple_GET_ITEM(t, 1), "a watchpoint's length", &v[n + k]))
            goto error;
        kinds[k] = HV_WATCH_WRITE;
        if (PyTuple_GET_SIZE(t) == 3 && parse_watch_kind(PyTuple_GET_ITEM(t, 2), &kinds[k]))
            goto error;
        if (v[n + k] > (1u << 24)) {
            PyErr_SetString(PyExc_ValueError, "a watchpoint covers at most 16 MiB");
            goto error;
        }
    }
    if (!hv_set_watchpoints(self->g, v, v + n, kinds, (uint32_t)n)) {
        PyErr_NoMemory();
        goto error;
    }
    ret = Py_NewRef(Py_None);
error:
    PyMem_Free(kinds);
    PyMem_Free(v);
    Py_DECREF(seq);
    return ret;
}

/* ---- snapshots (host_snapshot.c) ---- */

/*
 * What Machine.snapshot() (snap NULL) and Machine.restore(snap) check before
 * they touch the machine: it is not running; a snapshot is not taken of a
 * machine with Python devices (their state lives in Python); and what is
 * put back is a Snapshot of a machine with the same RAM size and switcher.
 * 0, or -1 with the exception set.
 */
static int check_snapshot_call(Machine *self, PyObject *snap)
{
    if (check_idle(self))
        return -1;
    if (!snap) {
        if (self->devices && PyTuple_GET_SIZE(self->devices) > 0) {
            PyErr_SetString(PyExc_ValueError,
                            "cannot take a snapshot of a machine with Python devices "
                            "(devices= in run()): their state lives in Python");
            return -1;
        }
        return 0;
    }
    module_state *mst = PyType_GetModuleState(Py_TYPE(self));
    if (!PyObject_TypeCheck(snap, mst->snapshot_type)) {
        PyErr_Format(PyExc_TypeError, "restore() takes a snapshot from Machine.snapshot(), "
                     "not %.100s", Py_TYPE(snap)->tp_name);
        return -1;
    }
    const struct hv_snapshot *s = ((Snapshot *)snap)->s;
    if (s->ram_size != self->g->live.ram_size) {
        PyErr_Format(PyExc_ValueError, "the snapshot is of a machine with %u bytes of RAM; "
                     "this one has %u", s->ram_size, self->g->live.ram_size);
        return -1;
    }
    if (s->sw_ops != self->g->live.sw_ops) {
        PyErr_Format(PyExc_ValueError, "the snapshot is of a machine run by the %s switcher; "
                     "this one uses %s", s->sw_ops->name, self->g->live.sw_ops->name);
        return -1;
    }
    return 0;
}

static PyObject *Machine_snapshot(Machine *self, PyObject *Py_UNUSED(arg))
{
    if (check_snapshot_call(self, NULL))
        return NULL;
    module_state *mst = PyType_GetModuleState(Py_TYPE(self));
    Snapshot *snap = PyObject_New(Snapshot, mst->snapshot_type);
    if (!snap)
        return NULL;
    snap->s = hv_snapshot_take(self->g);
    if (!snap->s) {
        Py_DECREF(snap);
        return PyErr_NoMemory();
    }
    return (PyObject *)snap;
}

static PyObject *Machine_restore(Machine *self, PyObject *arg)
{
    if (check_snapshot_call(self, arg))
        return NULL;
    if (!hv_snapshot_restore(self->g, ((Snapshot *)arg)->s))
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* May be called from any thread while the guest runs. */
static PyObject *Machine_interrupt(Machine *self, PyObject *unused)
{
    (void)unused;
    __atomic_store_n(&self->g->live.debug_interrupt, 1, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

/* In gdb's i386 order: eax ecx edx ebx esp ebp esi edi eip eflags cs ss ds es fs gs. */
static PyObject *Machine_debug_regs(Machine *self, PyObject *unused)
{
    (void)unused;
    if (check_idle(self))
        return NULL;
    struct hv_guest *g = self->g;
    struct hv_regs r;
    struct hv_sregs sr;
    g->live.sw_ops->get_regs(g->live.sw, &r);
    g->live.sw_ops->get_sregs(g->live.sw, &sr);
    static const int order[6] = { HV_CS, HV_SS, HV_DS, HV_ES, HV_FS, HV_GS };
    PyObject *t = PyTuple_New(16);
    for (int k = 0; t && k < 16; k++) {
        uint32_t v = k < 8 ? r.gpr[k] : k == 8 ? r.eip : k == 9 ? r.eflags
                                                               : sr.seg[order[k - 10]].sel;
        PyObject *o = PyLong_FromUnsignedLong(v);
        if (!o) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, k, o);
    }
    return t;
}

/* The x87 and SSE state: a 32-bit FNSAVE image (108 bytes), XMM0..7 (128)
 * and MXCSR (4), little-endian. */
static PyObject *Machine_debug_fpu(Machine *self, PyObject *unused)
{
    (void)unused;
    if (check_idle(self))
        return NULL;
    uint8_t buf[108 + 128 + 4];
    uint32_t mxcsr;
    self->g->live.sw_ops->get_fpu(self->g->live.sw, buf, buf + 108, &mxcsr);
    memcpy(buf + 236, &mxcsr, 4);
    return PyBytes_FromStringAndSize((const char *)buf, sizeof(buf));
}

static PyObject *Machine_debug_set_fpu(Machine *self, PyObject *arg)
{
    if (check_idle(self))
        return NULL;
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *ret = NULL;
    if (buf.len != 108 + 128 + 4) {
        PyErr_SetString(PyExc_ValueError, "debug_set_fpu takes debug_fpu()'s 240 bytes");
    } else {
        const uint8_t *p = buf.buf;
        uint32_t mxcsr;
        memcpy(&mxcsr, p + 236, 4);
        self->g->live.sw_ops->set_fpu(self->g->live.sw, p, p + 108, mxcsr);
        ret = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&buf);
    return ret;
}

/* The general registers, eip and eflags, in debug_regs' order (10 values). */
static PyObject *Machine_debug_set_regs(Machine *self, PyObject *arg)
{
    if (check_idle(self))
        return NULL;
    PyObject *seq = PySequence_Fast(arg, "registers must be a sequence");
    if (!seq)
        return NULL;
    PyObject *ret = NULL;
    uint32_t v[10];
    if (PySequence_Fast_GET_SIZE(seq) != 10) {
        PyErr_SetString(PyExc_ValueError, "debug_set_regs takes 10 values: 8 GPRs, eip, eflags");
        goto error;
    }
    for (int k = 0; k < 10; k++)
        if (parse_u32(PySequence_Fast_GET_ITEM(seq, k), "a register", &v[k]))
            goto error;
    struct hv_regs r;
    memcpy(r.gpr, v, sizeof(r.gpr));
    r.eip = v[8];
    r.eflags = (v[9] | HV_FLAGS_FIXED) & ~0x8028u;  /* bits 1, 3, 5, 15 read as 1, 0, 0, 0 */
    self->g->live.sw_ops->set_regs(self->g->live.sw, &r);
    ret = Py_NewRef(Py_None);
error:
    Py_DECREF(seq);
    return ret;
}

/* Guest-virtual (linear) memory as the debugger sees it: short at the first
 * address that does not translate; nothing else in the guest changes. */
static PyObject *Machine_debug_read(Machine *self, PyObject *args)
{
    PyObject *addr_o, *len_o;
    uint32_t addr, len;
    if (!PyArg_ParseTuple(args, "OO:debug_read", &addr_o, &len_o) || check_idle(self) ||
        parse_u32(addr_o, "addr", &addr) || parse_u32(len_o, "length", &len))
        return NULL;
    if (len > (1u << 24)) {
        PyErr_SetString(PyExc_ValueError, "debug_read reads at most 16 MiB");
        return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(NULL, len);
    if (!b)
        return NULL;
    uint32_t n = hv_debug_copy(self->g, addr, PyBytes_AS_STRING(b), len, false);
    if (n < len && _PyBytes_Resize(&b, n) < 0)
        return NULL;
    return b;
}

static PyObject *Machine_debug_write(Machine *self, PyObject *args)
{
    PyObject *addr_o;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "Oy*:debug_write", &addr_o, &buf))
        return NULL;
    PyObject *ret = NULL;
    uint32_t addr;
    if (check_idle(self) || parse_u32(addr_o, "addr", &addr))
        goto error;
    if ((uint64_t)buf.len > (1u << 24)) {
        PyErr_SetString(PyExc_ValueError, "debug_write writes at most 16 MiB");
        goto error;
    }
    ret = PyLong_FromUnsignedLong(hv_debug_copy(self->g, addr, buf.buf, (uint32_t)buf.len,
                                                true));
error:
    PyBuffer_Release(&buf);
    return ret;
}

static PyObject *Machine_get_debug_stop(Machine *self, void *closure)
{
    (void)closure;
    static const char *const names[] = { NULL, "step", "break", "interrupt", "watch",
                                         "stop_at" };
    const char *s = names[self->g->live.debug_reason];
    if (!s)
        Py_RETURN_NONE;
    return PyUnicode_FromString(s);
}

static PyObject *Machine_get_watch_hit(Machine *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->g->live.watch_hit);
}

static PyObject *Machine_get_watch_kind(Machine *self, void *closure)
{
    (void)closure;
    static const char *const names[] = { NULL, "write", "read", "access" };
    if (self->g->live.debug_reason != HV_DEBUG_WATCH)
        Py_RETURN_NONE;
    return PyUnicode_FromString(names[self->g->live.watch_hit_kind]);
}

static PyObject *Machine_get_instructions(Machine *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->g->live.sw_ops->instructions(self->g->live.sw));
}

static PyObject *Machine_get_memory_size(Machine *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->g->live.ram_size);
}

static PyObject *Machine_get_serial_read(Machine *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(self->g->live.serial_in.pos);
}

static PyObject *Machine_get_switcher(Machine *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(self->g->live.sw_ops->name);
}

static PyMethodDef Machine_methods[] = {
    { "load", (PyCFunction)Machine_load, METH_VARARGS,
      "load(paddr, data, memsz): copy data to guest RAM at paddr and zero up to memsz." },
    { "boot", (PyCFunction)Machine_boot, METH_VARARGS,
      "boot(entry, cmdline, mods_addr=0, mods_count=0): set the ABI v1 entry state and the "
      "multiboot info block (with a module table of mods_count 16-byte entries)." },
    { "run", (PyCFunction)(void (*)(void))Machine_run, METH_VARARGS | METH_KEYWORDS,
      "run(timeout=None, max_instructions=None, console=None, devices=(), clock='virtual', "
      "qemu_exit=False, serial_input=b'', serial_fd=-1, debugcon_fd=-1, step=False, "
      "stop_at=0) -> "
      "(status, reason, console, instructions, elapsed, restart, results)" },
    { "read", (PyCFunction)Machine_read, METH_VARARGS, "read(addr, length) -> bytes" },
    { "write", (PyCFunction)Machine_write, METH_VARARGS, "write(addr, data)" },
    { "set_breakpoints", (PyCFunction)Machine_set_breakpoints, METH_O,
      "set_breakpoints(eips): runs stop (debug_stop 'break') before these instructions; "
      "a run that resumes from such a stop first runs the instruction there" },
    { "coverage_on", (PyCFunction)Machine_coverage_on, METH_NOARGS,
      "coverage_on(): from now on count how often each decoded block of guest code runs" },
    { "coverage", (PyCFunction)Machine_coverage, METH_NOARGS,
      "coverage() -> [(start, end, count), ...]: EIP ranges and counts whose sums over the "
      "ranges holding an instruction say how often it ran while counting (a count may be "
      "negative: a block left part-way)" },
    { "coverage_branches", (PyCFunction)Machine_coverage_branches, METH_NOARGS,
      "coverage_branches() -> [(eip, taken, not_taken), ...]: the conditional jumps that "
      "ended counted blocks, and how often each jumped or fell through (add up repeats)" },
    { "set_watchpoints", (PyCFunction)Machine_set_watchpoints, METH_O,
      "set_watchpoints([(vaddr, length[, kind]), ...]): while any is set, runs go one "
      "instruction at a time and stop (debug_stop 'watch', watch_hit, watch_kind) right "
      "after one that changes a 'write' watchpoint (the default kind), reads a 'read' one, "
      "or reads or writes an 'access' one" },
    { "snapshot", (PyCFunction)Machine_snapshot, METH_NOARGS,
      "snapshot() -> Snapshot: the whole machine now (RAM, registers, clock, timer, IRQs, "
      "devices, console, results); refused for a machine with Python devices" },
    { "restore", (PyCFunction)Machine_restore, METH_O,
      "restore(snapshot): put the machine back as it was (a snapshot of this machine or of "
      "another with the same RAM size and switcher); breakpoints and watchpoints stay set" },
    { "interrupt", (PyCFunction)Machine_interrupt, METH_NOARGS,
      "interrupt(): from any thread, pause the running guest (debug_stop 'interrupt')" },
    { "debug_regs", (PyCFunction)Machine_debug_regs, METH_NOARGS,
      "debug_regs() -> (eax, ecx, edx, ebx, esp, ebp, esi, edi, eip, eflags, cs, ss, ds, es, "
      "fs, gs)" },
    { "debug_fpu", (PyCFunction)Machine_debug_fpu, METH_NOARGS,
      "debug_fpu() -> bytes: the FNSAVE image (108), XMM0..7 (128), MXCSR (4)" },
    { "debug_set_fpu", (PyCFunction)Machine_debug_set_fpu, METH_O,
      "debug_set_fpu(data): write debug_fpu()'s 240 bytes back (MXCSR's reserved bits dropped)" },
    { "debug_set_regs", (PyCFunction)Machine_debug_set_regs, METH_O,
      "debug_set_regs((eax, ..., edi, eip, eflags))" },
    { "debug_read", (PyCFunction)Machine_debug_read, METH_VARARGS,
      "debug_read(vaddr, length) -> bytes, short where translation fails" },
    { "debug_write", (PyCFunction)Machine_debug_write, METH_VARARGS,
      "debug_write(vaddr, data) -> bytes written" },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef Machine_getset[] = {
    { "memory_size", (getter)Machine_get_memory_size, NULL, "guest RAM in bytes", NULL },
    { "switcher", (getter)Machine_get_switcher, NULL, "the switcher's name", NULL },
    { "debug_stop", (getter)Machine_get_debug_stop, NULL,
      "why the last run paused for the debugger ('step', 'break', 'interrupt'), or None; "
      "run() again to go on", NULL },
    { "watch_hit", (getter)Machine_get_watch_hit, NULL,
      "the address of the watchpoint that stopped the guest (debug_stop 'watch')", NULL },
    { "watch_kind", (getter)Machine_get_watch_kind, NULL,
      "that watchpoint's kind, 'write', 'read' or 'access' (None unless debug_stop is "
      "'watch')", NULL },
    { "instructions", (getter)Machine_get_instructions, NULL,
      "instructions retired since boot", NULL },
    { "serial_read", (getter)Machine_get_serial_read, NULL,
      "bytes of the last run's serial input the guest read", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyType_Slot Machine_slots[] = {
    { Py_tp_new, Machine_new },
    { Py_tp_dealloc, Machine_dealloc },
    { Py_tp_methods, Machine_methods },
    { Py_tp_getset, Machine_getset },
    { Py_tp_doc, "Machine(memory_bytes, switcher='emu'): one guest and its RAM." },
    { 0, NULL },
};

static PyType_Spec Machine_spec = {
    .name = "hv._native.Machine",
    .basicsize = sizeof(Machine),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Machine_slots,
};

static int module_exec(PyObject *mod)
{
    module_state *st = PyModule_GetState(mod);
    st->machine_type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &Machine_spec, NULL);
    if (!st->machine_type)
        return -1;
    if (PyModule_AddType(mod, st->machine_type) < 0)
        return -1;
    st->bus_type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &Bus_spec, NULL);
    if (!st->bus_type || PyModule_AddType(mod, st->bus_type) < 0)
        return -1;
    st->snapshot_type = (PyTypeObject *)PyType_FromModuleAndSpec(mod, &Snapshot_spec, NULL);
    if (!st->snapshot_type || PyModule_AddType(mod, st->snapshot_type) < 0)
        return -1;
    st->memory_error = Py_NewRef(PyExc_ValueError);
    if (PyModule_AddIntConstant(mod, "IMAGE_BASE", HV_IMAGE_BASE) < 0 ||
        PyModule_AddIntConstant(mod, "MEMORY_MIN", HV_MEM_MIN) < 0 ||
        PyModule_AddIntConstant(mod, "MEMORY_MAX", HV_MEM_MAX) < 0 ||
        PyModule_AddIntConstant(mod, "CMDLINE_MAX", HV_MB_CMDLINE_MAX - 1) < 0)
        return -1;
    size_t nsw = 0;
    while (hv_switchers[nsw])
        nsw++;
    PyObject *sw = PyTuple_New((Py_ssize_t)nsw);
    if (!sw)
        return -1;
    for (size_t k = 0; k < nsw; k++) {
        PyObject *name = PyUnicode_FromString(hv_switchers[k]->name);
        if (!name) {
            Py_DECREF(sw);
            return -1;
        }
        PyTuple_SET_ITEM(sw, (Py_ssize_t)k, name);
    }
    if (PyModule_AddObject(mod, "SWITCHERS", sw) < 0) {
        Py_DECREF(sw);
        return -1;
    }
    return 0;
}

static int module_traverse(PyObject *mod, visitproc visit, void *arg)
{
    module_state *st = PyModule_GetState(mod);
    Py_VISIT(st->machine_type);
    Py_VISIT(st->bus_type);
    Py_VISIT(st->snapshot_type);
    Py_VISIT(st->memory_error);
    return 0;
}

static int module_clear(PyObject *mod)
{
    module_state *st = PyModule_GetState(mod);
    Py_CLEAR(st->machine_type);
    Py_CLEAR(st->bus_type);
    Py_CLEAR(st->snapshot_type);
    Py_CLEAR(st->memory_error);
    return 0;
}

static void module_free(void *mod)
{
    module_clear((PyObject *)mod);
}

static PyObject *set_memory_error(PyObject *mod, PyObject *exc)
{
    if (!PyType_Check(exc) || !PyType_IsSubtype((PyTypeObject *)exc,
                                                (PyTypeObject *)PyExc_Exception)) {
        PyErr_SetString(PyExc_TypeError, "set_memory_error() takes an exception class");
        return NULL;
    }
    module_state *st = PyModule_GetState(mod);
    Py_XSETREF(st->memory_error, Py_NewRef(exc));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    { "set_memory_error", set_memory_error, METH_O,
      "set_memory_error(cls): the exception Bus.read/write raise outside guest RAM" },
    { NULL, NULL, 0, NULL },
};

static PyModuleDef_Slot module_slots[] = {
    { Py_mod_exec, module_exec },
    { 0, NULL },
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "hv._native",
    .m_doc = "The hv host: guest memory, the run loop, hypercalls and the switchers.",
    .m_size = sizeof(module_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModuleDef_Init(&native_module);
}
