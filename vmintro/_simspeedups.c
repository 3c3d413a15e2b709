/* vmintro._simspeedups: the simulator's hottest code, in C: the walks of
 * vmlist, the scalar loads and stores of simulated RAM (Ram), the log of
 * every write a recorded run makes (WriteLog), and the buddy allocator's
 * rmqueue and __free_pages_ok merge (buddy_rmqueue, buddy_free).
 *
 * get_vm_area's first fit and vfree's search walk vmlist node by node, and
 * each node of a long list is a Python loop iteration in vmintro/sim/vmalloc.py
 * (its Python form, which defines what this does). walk_vmlist runs the same
 * loop over the same simulated RAM -- PhysMem's stored pages, a dict of pfn to
 * bytearray, a page not stored reading as zeros -- for as long as each node
 * lies inside one page of the direct map, and hands the walk back to the Python
 * loop, state and all, at the first node that does not (a pointer the page
 * tables must resolve, or one that faults). A loop is found as the Python form
 * finds it: Brent's method, comparing the state that decides the next step
 * with one mark.
 *
 * Every value is a 32-bit kernel word; the caller passes offsets and bounds.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define PAGE_OFFSET 0xC0000000ULL
#define MASK32 0xFFFFFFFFULL

/* How a walk ended: the Python form's names for the same exits. */
enum { END = 0, FOUND = 1, REFUSED = 2, LOOPED = 3, HANDED_BACK = 4 };

#define CACHED 256

typedef struct {
    PyObject *stored;          /* pfn -> bytearray */
    unsigned long long lo, last_node, in_page;
    /* The pages read so far, by pfn modulo CACHED: a long list's nodes lie on a few
     * hundred slab pages, met again and again. Nothing else runs during a walk, so
     * the stored pages stay as they were when it began. */
    long long cached_pfn[CACHED];  /* -1: nothing cached in this slot */
    const unsigned char *cached[CACHED];
} Ram;

static unsigned long long
word_at(const unsigned char *page, unsigned long long off)
{
    if (page == NULL)
        return 0;
    return (unsigned long long)page[off] | ((unsigned long long)page[off + 1] << 8) |
           ((unsigned long long)page[off + 2] << 16) | ((unsigned long long)page[off + 3] << 24);
}

/* The page holding node ``tmp``: 1 with *page set (NULL: never written, reads as
 * zeros), 0 when the node is not inside one page of the direct map, -1 on error. */
static int
node_page(Ram *ram, unsigned long long tmp, const unsigned char **page)
{
    if (tmp < ram->lo || tmp > ram->last_node || (tmp & 0xFFF) > ram->in_page)
        return 0;
    long long pfn = (long long)((tmp - PAGE_OFFSET) >> 12);
    int slot = (int)(pfn % CACHED);
    if (pfn != ram->cached_pfn[slot]) {
        PyObject *key = PyLong_FromLongLong(pfn);
        if (key == NULL)
            return -1;
        PyObject *value = PyDict_GetItemWithError(ram->stored, key);
        Py_DECREF(key);
        if (value == NULL && PyErr_Occurred())
            return -1;
        if (value != NULL && !(PyByteArray_Check(value) && PyByteArray_GET_SIZE(value) == 4096)) {
            PyErr_SetString(PyExc_TypeError, "a stored page is not a bytearray of 4096 bytes");
            return -1;
        }
        ram->cached[slot] = value ? (const unsigned char *)PyByteArray_AS_STRING(value) : NULL;
        ram->cached_pfn[slot] = pfn;
    }
    *page = ram->cached[slot];
    return 1;
}

static int
parse(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, const char *name,
      unsigned long long *out)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments (%zd given)", name, want - 1, nargs - 1);
        return -1;
    }
    if (!PyDict_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s: the stored pages must be a dict", name);
        return -1;
    }
    for (Py_ssize_t i = 1; i < nargs; i++) {
        out[i] = PyLong_AsUnsignedLongLong(args[i]);
        if (out[i] == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

/* The walk's state, as the Python form keeps it. */
typedef struct {
    unsigned long long link, tmp, addr, mark, mark_addr, steps, power;
} Walk;

/* One loop for both: get_vm_area's first fit (fit: size and vm_end - size in
 * limit; addr the candidate), or vfree's search (addr the area sought, which the
 * loop never changes, so the state that comes back is the node alone). */
static int
walk(Ram *ram, int fit, unsigned long long i_addr, unsigned long long i_size,
     unsigned long long i_next, unsigned long long o_next, unsigned long long size,
     long long limit, Walk *w)
{
    while (w->tmp) {
        const unsigned char *page;
        int r = node_page(ram, w->tmp, &page);
        if (r <= 0)
            return r < 0 ? -1 : HANDED_BACK;
        unsigned long long off = w->tmp & 0xFFF;
        unsigned long long tmp_addr = word_at(page, off + i_addr);
        if (fit) {
            if (size + w->addr > MASK32)
                return REFUSED;
            if (size + w->addr <= tmp_addr)
                return FOUND;
            w->addr = (word_at(page, off + i_size) + tmp_addr) & MASK32;
            if ((long long)w->addr > limit)
                return REFUSED;
        } else if (tmp_addr == w->addr) {
            return FOUND;
        }
        w->link = w->tmp + o_next;
        w->tmp = word_at(page, off + i_next);
        w->steps++;
        if (w->tmp == w->mark && w->addr == w->mark_addr)
            return LOOPED;
        if (w->steps == w->power) {
            w->mark = w->tmp;
            w->mark_addr = w->addr;
            w->steps = 0;
            w->power *= 2;
        }
    }
    return END;
}

PyDoc_STRVAR(walk_vmlist_doc,
"walk_vmlist(stored, fit, last_node, in_page, i_addr, i_size, i_next, o_next, size, vm_end,\n"
"            link, tmp, addr, mark, mark_addr, steps, power)\n"
"-> (how, link, tmp, addr, mark, mark_addr, steps, power)\n\n"
"From node tmp (reached through link): get_vm_area's first fit of size bytes (fit true,\n"
"addr the candidate) or vfree's search for the area at addr (fit false).");

static PyObject *
walk_vmlist(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned long long a[17];
    if (parse(args, nargs, 17, "walk_vmlist", a) < 0)
        return NULL;
    Ram ram = {.stored = args[0], .lo = PAGE_OFFSET, .last_node = a[2], .in_page = a[3]};
    for (int i = 0; i < CACHED; i++)
        ram.cached_pfn[i] = -1;
    Walk w = {a[10], a[11], a[12], a[13], a[14], a[15], a[16]};
    long long limit = (long long)a[9] - (long long)a[8];  /* VMALLOC_END - size: may be < 0 */
    int how = walk(&ram, a[1] != 0, a[4] * 4, a[5] * 4, a[6] * 4, a[7], a[8], limit, &w);
    if (how < 0)
        return NULL;
    return Py_BuildValue("(iKKKKKKK)", how, w.link, w.tmp, w.addr, w.mark, w.mark_addr, w.steps,
                         w.power);
}

/* ---- WriteLog: vmintro/sim/recorder.py's WriteLog (its Python form) ---------------
 *
 * Seven 32-bit numbers per write (entry, path, pfn, offset, length, old, new) in
 * the bytearray ``records``, the bytes a write changed in the bytearray ``data``
 * (all-zero runs left out: their offset is ZERO). The call path of a write is the
 * list ``call_path`` as it stands, numbered in the dict ``paths`` (tuple -> index,
 * new ones numbered in turn) when it differs from the last write's; a write made
 * outside any kernel function has the index ``outside()`` gives. */

#define ZERO_AT 0xFFFFFFFFULL

typedef struct {
    PyObject_HEAD
    PyObject *records;     /* bytearray of uint32, 7 per write */
    PyObject *data;        /* bytearray */
    PyObject *call_path;   /* list: the kernel functions on the path now */
    PyObject *paths;       /* dict: tuple(call_path) -> its index */
    PyObject *outside;     /* () -> int: the index of a write outside any function */
    PyObject *last_path;   /* tuple: the path of the last write, or NULL */
    unsigned long long last_index;
    unsigned long long entry;
} WriteLogObject;

static PyTypeObject WriteLogType;

static int
all_zero(const unsigned char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static int
append(PyObject *ba, const void *src, Py_ssize_t n)
{
    Py_ssize_t at = PyByteArray_GET_SIZE(ba);
    if (PyByteArray_Resize(ba, at + n) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(ba) + at, src, (size_t)n);
    return 0;
}

/* 1 when the path now is the last write's, 0 when not, -1 on error. */
static int
same_path(WriteLogObject *log)
{
    PyObject *last = log->last_path;
    if (last == NULL || !PyList_Check(log->call_path))
        return 0;
    Py_ssize_t n = PyList_GET_SIZE(log->call_path);
    if (n != PyTuple_GET_SIZE(last))
        return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *a = PyList_GET_ITEM(log->call_path, i), *b = PyTuple_GET_ITEM(last, i);
        if (a != b) {
            int eq = PyObject_RichCompareBool(a, b, Py_EQ);
            if (eq <= 0)
                return eq;
        }
    }
    return 1;
}

static int
log_record(WriteLogObject *log, unsigned long long pfn, unsigned long long offset,
           const unsigned char *old, Py_ssize_t old_len, const unsigned char *new, Py_ssize_t n)
{
    int same = same_path(log);
    if (same < 0)
        return -1;
    if (!same) {
        PyObject *path = NULL, *index;
        if (PyList_GET_SIZE(log->call_path)) {
            if ((path = PyList_AsTuple(log->call_path)) == NULL)
                return -1;
            index = PyDict_GetItemWithError(log->paths, path);  /* borrowed */
            if (index != NULL) {
                Py_INCREF(index);
            } else if (!PyErr_Occurred()) {
                index = PyLong_FromSsize_t(PyDict_GET_SIZE(log->paths));
                if (index != NULL && PyDict_SetItem(log->paths, path, index) < 0)
                    Py_CLEAR(index);
            }
        } else {
            index = PyObject_CallNoArgs(log->outside);  /* not remembered: path stays NULL */
        }
        unsigned long long value = index ? PyLong_AsUnsignedLongLong(index) : (unsigned long long)-1;
        Py_XDECREF(index);
        if (value == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_XDECREF(path);
            return -1;
        }
        Py_XSETREF(log->last_path, path);
        log->last_index = value;
    }
    unsigned long long at_old, at_new;
    /* old.count(0) == len(new): all zero, and as long as the new bytes */
    if (old_len == n && all_zero(old, old_len)) {
        at_old = ZERO_AT;
    } else {
        at_old = (unsigned long long)PyByteArray_GET_SIZE(log->data);
        if (append(log->data, old, old_len) < 0)
            return -1;
    }
    if (old_len == n && memcmp(old, new, (size_t)n) == 0) {
        at_new = at_old;
    } else if (all_zero(new, n)) {
        at_new = ZERO_AT;
    } else {
        at_new = (unsigned long long)PyByteArray_GET_SIZE(log->data);
        if (append(log->data, new, n) < 0)
            return -1;
    }
    unsigned long long row[7] = {log->entry, log->last_index, pfn, offset, (unsigned long long)n,
                                 at_old, at_new};
    uint32_t packed[7];
    for (int i = 0; i < 7; i++) {
        if (row[i] > 0xFFFFFFFFULL) {
            PyErr_SetString(PyExc_OverflowError, "a write's record does not fit in 32 bits");
            return -1;
        }
        packed[i] = (uint32_t)row[i];
    }
    return append(log->records, packed, sizeof packed);
}

static PyObject *
WriteLog_record(WriteLogObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "record takes 4 arguments (%zd given)", nargs);
        return NULL;
    }
    unsigned long long pfn = PyLong_AsUnsignedLongLong(args[0]);
    if (pfn == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    unsigned long long offset = PyLong_AsUnsignedLongLong(args[1]);
    if (offset == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer old, new;
    if (PyObject_GetBuffer(args[2], &old, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[3], &new, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&old);
        return NULL;
    }
    int r = log_record(self, pfn, offset, old.buf, old.len, new.buf, new.len);
    PyBuffer_Release(&old);
    PyBuffer_Release(&new);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
WriteLog_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *call_path, *paths, *outside;
    static char *kwlist[] = {"call_path", "paths", "outside", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!O:WriteLog", kwlist, &PyList_Type, &call_path,
                                     &PyDict_Type, &paths, &outside))
        return NULL;
    WriteLogObject *self = (WriteLogObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->records = PyByteArray_FromStringAndSize(NULL, 0);
    self->data = PyByteArray_FromStringAndSize(NULL, 0);
    if (self->records == NULL || self->data == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->call_path = Py_NewRef(call_path);
    self->paths = Py_NewRef(paths);
    self->outside = Py_NewRef(outside);
    return (PyObject *)self;
}

static int
WriteLog_traverse(WriteLogObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->call_path);
    Py_VISIT(self->paths);
    Py_VISIT(self->outside);
    Py_VISIT(self->last_path);
    return 0;
}

static int
WriteLog_clear(WriteLogObject *self)
{
    Py_CLEAR(self->call_path);
    Py_CLEAR(self->paths);
    Py_CLEAR(self->outside);
    Py_CLEAR(self->last_path);
    return 0;
}

static void
WriteLog_dealloc(WriteLogObject *self)
{
    PyObject_GC_UnTrack(self);
    WriteLog_clear(self);
    Py_CLEAR(self->records);
    Py_CLEAR(self->data);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
WriteLog_count(WriteLogObject *self, void *closure)
{
    return PyLong_FromSsize_t(PyByteArray_GET_SIZE(self->records) / 28);
}

static PyMethodDef WriteLog_methods[] = {
    {"record", (PyCFunction)(void (*)(void))WriteLog_record, METH_FASTCALL,
     "record(pfn, offset, old, new): a write of len(new) bytes at offset in frame pfn."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef WriteLog_members[] = {
    {"records", T_OBJECT_EX, offsetof(WriteLogObject, records), READONLY,
     "bytearray: seven uint32 per write"},
    {"data", T_OBJECT_EX, offsetof(WriteLogObject, data), READONLY, "bytearray: the bytes written"},
    {"entry", T_ULONGLONG, offsetof(WriteLogObject, entry), 0, "the entry the writes go to now"},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef WriteLog_getset[] = {
    {"count", (getter)WriteLog_count, NULL, "writes logged", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject WriteLogType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._simspeedups.WriteLog",
    .tp_basicsize = sizeof(WriteLogObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "WriteLog(call_path, paths, outside): the writes of a recorded run "
              "(vmintro/sim/recorder.py's WriteLog is its Python form).",
    .tp_new = WriteLog_new,
    .tp_dealloc = (destructor)WriteLog_dealloc,
    .tp_traverse = (traverseproc)WriteLog_traverse,
    .tp_clear = (inquiry)WriteLog_clear,
    .tp_methods = WriteLog_methods,
    .tp_members = WriteLog_members,
    .tp_getset = WriteLog_getset,
};

/* ---- Ram: vmintro/sim/physmem.py's read, write and scalar loads and stores
 * (_load, _store) and KernelMemory's r32/w32 (vmintro/sim/kernel.py): their Python
 * forms define what these do.
 *
 * RAM is PhysMem's dict of stored pages; a page never written reads as zeros, and
 * a write stores the pages it touches. An access outside RAM goes to PhysMem's
 * _check, which says what is wrong. A write tells the recorder, a WriteLog
 * directly, each page's part apart. */

typedef struct {
    PyObject_HEAD
    PyObject *pages;        /* dict: pfn -> bytearray(4096) */
    long long size;         /* bytes of RAM */
    long long high_memory;  /* r32/w32: the direct map's end (0: none) */
    PyObject *recorder;     /* told of each store, or NULL */
    PyObject *check;        /* PhysMem._check(paddr, n): raises for an access outside RAM */
    PyObject *phys;         /* KernelMemory.phys(vaddr), or NULL */
    PyObject *widths;       /* get/set: dict (type name, member path) -> (offset, size) */
    PyObject *resolve;      /* (type name, member path) -> (offset, size), kept in widths */
    PyObject *ops[15];      /* the RamOp of each name in OP_NAMES, made once */
} RamObject;

/* A load or store of one Ram as a callable of its own, not a builtin method: so
 * a deep copy of what holds it (a kernel, an allocator's cached r32) copies the
 * Ram with it instead of sharing the old one. */
static const char *const OP_NAMES[15] = {"read_u8", "read_u16", "read_u32", "read_u64",
                                         "write_u8", "write_u16", "write_u32", "write_u64",
                                         "r32", "w32", "read", "write", "get", "set",
                                         "read_into"};

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    RamObject *ram;
    int op;
} RamOpObject;

static PyTypeObject RamOpType;

/* The stored page of frame pfn: 1 with *page set (NULL: never written), -1 on error. */
static int
ram_page(RamObject *ram, long long pfn, int create, unsigned char **page)
{
    PyObject *key = PyLong_FromLongLong(pfn);
    if (key == NULL)
        return -1;
    PyObject *value = PyDict_GetItemWithError(ram->pages, key);
    if (value == NULL) {
        if (PyErr_Occurred() || !create) {
            Py_DECREF(key);
            *page = NULL;
            return PyErr_Occurred() ? -1 : 1;
        }
        value = PyByteArray_FromStringAndSize(NULL, 4096);
        if (value == NULL) {
            Py_DECREF(key);
            return -1;
        }
        memset(PyByteArray_AS_STRING(value), 0, 4096);
        int r = PyDict_SetItem(ram->pages, key, value);
        Py_DECREF(value);  /* the dict holds it */
        if (r < 0) {
            Py_DECREF(key);
            return -1;
        }
    }
    Py_DECREF(key);
    if (!(PyByteArray_Check(value) && PyByteArray_GET_SIZE(value) == 4096)) {
        PyErr_SetString(PyExc_TypeError, "a stored page is not a bytearray of 4096 bytes");
        return -1;
    }
    *page = (unsigned char *)PyByteArray_AS_STRING(value);
    return 1;
}

static unsigned long long
get_le(const unsigned char *p, int width)
{
    unsigned long long v = 0;
    for (int i = width - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void
put_le(unsigned char *p, unsigned long long v, int width)
{
    for (int i = 0; i < width; i++, v >>= 8)
        p[i] = (unsigned char)v;
}

/* paddr as a C number: 1, or 0 when it does not fit (then only the slow path can
 * say what it is), -1 when it is no integer. */
static int
as_address(PyObject *obj, long long *out)
{
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (*out == -1 && PyErr_Occurred())
        return -1;
    return overflow ? 0 : 1;
}

/* PhysMem._check: 0 when [paddr, paddr + n) is inside RAM, else -1 with its error. */
static int
ram_check(RamObject *ram, long long paddr, PyObject *paddr_obj, Py_ssize_t n)
{
    if (paddr_obj == NULL && paddr >= 0 && n >= 0 && paddr <= ram->size - n)
        return 0;
    PyObject *own = NULL;
    if (paddr_obj == NULL && (paddr_obj = own = PyLong_FromLongLong(paddr)) == NULL)
        return -1;
    PyObject *r = PyObject_CallFunction(ram->check, "On", paddr_obj, n);
    Py_XDECREF(own);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    if (paddr >= 0 && n >= 0 && paddr <= ram->size - n)
        return 0;
    PyErr_SetString(PyExc_RuntimeError, "PhysMem._check let an access outside RAM through");
    return -1;
}

/* read: n bytes at paddr into out, the pages never written as zeros. */
static int
ram_read_into(RamObject *ram, long long paddr, PyObject *paddr_obj, Py_ssize_t n,
              unsigned char *out)
{
    if (ram_check(ram, paddr, paddr_obj, n) < 0)
        return -1;
    Py_ssize_t pos = 0;
    while (pos < n) {
        long long at = paddr + pos;
        Py_ssize_t off = (Py_ssize_t)(at & 0xFFF), chunk = 4096 - off;
        if (chunk > n - pos)
            chunk = n - pos;
        unsigned char *page;
        if (ram_page(ram, at >> 12, 0, &page) < 0)
            return -1;
        if (page)
            memcpy(out + pos, page + off, (size_t)chunk);
        else
            memset(out + pos, 0, (size_t)chunk);
        pos += chunk;
    }
    return 0;
}

/* Tell the recorder of a write of n bytes at off in frame pfn (old: what was there). */
static int
ram_tell(RamObject *ram, long long pfn, Py_ssize_t off, const unsigned char *old,
         const unsigned char *new, Py_ssize_t n)
{
    PyObject *rec = ram->recorder;
    if (Py_IS_TYPE(rec, &WriteLogType))
        return log_record((WriteLogObject *)rec, (unsigned long long)pfn, (unsigned long long)off,
                          old, n, new, n);
    PyObject *o = PyByteArray_FromStringAndSize((const char *)old, n);
    PyObject *w = PyBytes_FromStringAndSize((const char *)new, n);
    PyObject *r = NULL;
    if (o != NULL && w != NULL)
        r = PyObject_CallMethod(rec, "record", "LnOO", pfn, off, o, w);
    Py_XDECREF(o);
    Py_XDECREF(w);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* write: n bytes of data at paddr, page by page, each page's part told to the recorder
 * before it is written (data may be a view of RAM itself). */
static int
ram_write_from(RamObject *ram, long long paddr, PyObject *paddr_obj, const unsigned char *data,
               Py_ssize_t n)
{
    if (ram_check(ram, paddr, paddr_obj, n) < 0)
        return -1;
    int recording = ram->recorder != NULL;
    unsigned char *old = NULL;
    Py_ssize_t pos = 0;
    while (pos < n) {
        long long at = paddr + pos;
        Py_ssize_t off = (Py_ssize_t)(at & 0xFFF), chunk = 4096 - off;
        if (chunk > n - pos)
            chunk = n - pos;
        unsigned char *page;
        if (ram_page(ram, at >> 12, 1, &page) < 0)
            goto fail;
        if (recording) {
            if (old == NULL && (old = PyMem_Malloc(4096)) == NULL) {
                PyErr_NoMemory();
                goto fail;
            }
            memcpy(old, page + off, (size_t)chunk);
            if (ram_tell(ram, at >> 12, off, old, data + pos, chunk) < 0)
                goto fail;
            /* the recorder may have been anything: find the page again */
            if (ram_page(ram, at >> 12, 1, &page) < 0)
                goto fail;
        }
        memmove(page + off, data + pos, (size_t)chunk);
        pos += chunk;
    }
    PyMem_Free(old);
    return 0;
fail:
    PyMem_Free(old);
    return -1;
}

static PyObject *
ram_load(RamObject *ram, long long paddr, PyObject *paddr_obj, int width)
{
    unsigned char buf[8];
    if (paddr_obj == NULL && (paddr & 0xFFF) <= 4096 - width && paddr >= 0 && paddr < ram->size) {
        unsigned char *page;
        if (ram_page(ram, paddr >> 12, 0, &page) < 0)
            return NULL;
        return PyLong_FromUnsignedLongLong(page ? get_le(page + (paddr & 0xFFF), width) : 0);
    }
    /* across pages or outside RAM: read(paddr, width) */
    if (ram_read_into(ram, paddr, paddr_obj, width, buf) < 0)
        return NULL;
    return PyLong_FromUnsignedLongLong(get_le(buf, width));
}

static PyObject *
ram_store(RamObject *ram, long long paddr, PyObject *paddr_obj, unsigned long long value, int width)
{
    unsigned char new[8];
    put_le(new, value, width);
    if (paddr_obj == NULL && (paddr & 0xFFF) <= 4096 - width && paddr >= 0 && paddr < ram->size) {
        unsigned char *page;
        if (ram_page(ram, paddr >> 12, 1, &page) < 0)
            return NULL;
        Py_ssize_t off = (Py_ssize_t)(paddr & 0xFFF);
        unsigned char old[8];
        memcpy(old, page + off, (size_t)width);
        memcpy(page + off, new, (size_t)width);
        if (ram->recorder != NULL && ram_tell(ram, paddr >> 12, off, old, new, width) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    /* across pages or outside RAM: write(paddr, pack(value)) */
    if (ram_write_from(ram, paddr, paddr_obj, new, width) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
load_method(RamObject *self, PyObject *arg, int width)
{
    long long paddr;
    int r = as_address(arg, &paddr);
    if (r < 0)
        return NULL;
    return ram_load(self, paddr, r ? NULL : arg, width);
}

static PyObject *
store_method(RamObject *self, PyObject *const *args, int width)
{
    /* value &= mask first, as the Python form does */
    unsigned long long value = PyLong_AsUnsignedLongLongMask(args[1]);
    if (value == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (width < 8)
        value &= (1ULL << (8 * width)) - 1;
    long long paddr;
    int r = as_address(args[0], &paddr);
    if (r < 0)
        return NULL;
    return ram_store(self, paddr, r ? NULL : args[0], value, width);
}

/* read(paddr, n) -> bytes */
static PyObject *
ram_read(RamObject *self, PyObject *const *args)
{
    long long paddr;
    int r = as_address(args[0], &paddr);
    if (r < 0)
        return NULL;
    Py_ssize_t n = PyNumber_AsSsize_t(args[1], NULL);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (r == 0 || n < 0)  /* outside RAM whatever it is: _check says how */
        return ram_check(self, paddr, args[0], n) < 0 ? NULL : PyBytes_FromStringAndSize("", 0);
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;
    if (ram_read_into(self, paddr, NULL, n, (unsigned char *)PyBytes_AS_STRING(out)) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* read_into(paddr, out): read(paddr, the bytes of out) into the writable buffer out */
static PyObject *
ram_read_into_method(RamObject *self, PyObject *const *args)
{
    Py_buffer out;
    if (PyObject_GetBuffer(args[1], &out, PyBUF_WRITABLE) < 0)
        return NULL;
    long long paddr;
    int r = as_address(args[0], &paddr);
    if (r >= 0)
        r = ram_read_into(self, paddr, r ? NULL : args[0], out.len, out.buf);
    PyBuffer_Release(&out);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* write(paddr, data) */
static PyObject *
ram_write(RamObject *self, PyObject *const *args)
{
    Py_buffer data;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    long long paddr;
    int r = as_address(args[0], &paddr);
    if (r >= 0)
        r = ram_write_from(self, paddr, r ? NULL : args[0], data.buf, data.len);
    PyBuffer_Release(&data);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Where kernel code touching vaddr lands: 1 with *paddr (and *obj, a new reference,
 * when the address came from phys() as an object), -1 on error. */
static int
kernel_phys(RamObject *self, PyObject *vaddr_obj, long long *paddr, PyObject **obj)
{
    long long vaddr;
    *obj = NULL;
    int r = as_address(vaddr_obj, &vaddr);
    if (r < 0)
        return -1;
    if (r && (long long)PAGE_OFFSET <= vaddr && vaddr < self->high_memory) {
        *paddr = vaddr - (long long)PAGE_OFFSET;
        return 1;
    }
    if (self->phys == NULL) {
        PyErr_SetString(PyExc_TypeError, "Ram.r32/w32 before the direct map was set");
        return -1;
    }
    PyObject *p = PyObject_CallOneArg(self->phys, vaddr_obj);
    if (p == NULL)
        return -1;
    r = as_address(p, paddr);
    if (r <= 0) {  /* no integer, or none a C number holds: the slow path says */
        if (r < 0) {
            Py_DECREF(p);
            return -1;
        }
        *obj = p;
        return 1;
    }
    Py_DECREF(p);
    return 1;
}

static PyObject *
ram_r32(RamObject *self, PyObject *arg)
{
    long long paddr;
    PyObject *obj;
    if (kernel_phys(self, arg, &paddr, &obj) < 0)
        return NULL;
    PyObject *v = ram_load(self, paddr, obj, 4);
    Py_XDECREF(obj);
    return v;
}

static PyObject *
ram_w32(RamObject *self, PyObject *const *args)
{
    long long paddr;
    PyObject *obj;
    if (kernel_phys(self, args[0], &paddr, &obj) < 0)
        return NULL;
    unsigned long long value = PyLong_AsUnsignedLongLongMask(args[1]);
    PyObject *v = NULL;
    if (!(value == (unsigned long long)-1 && PyErr_Occurred()))
        v = ram_store(self, paddr, obj, value & MASK32, 4);
    Py_XDECREF(obj);
    return v;
}

/* KernelMemory.get/set: the member's offset and size from widths (resolve() on a
 * miss), then a load or store of that size at addr + offset, as r32/w32 reach it. */
static int
ram_member(RamObject *self, PyObject *addr_obj, PyObject *typename, PyObject *path,
           PyObject **vaddr, int *width)
{
    if (self->widths == NULL) {
        PyErr_SetString(PyExc_TypeError, "Ram.get/set before the members were set");
        return -1;
    }
    PyObject *key = PyTuple_Pack(2, typename, path);
    if (key == NULL)
        return -1;
    PyObject *entry = PyDict_GetItemWithError(self->widths, key);
    Py_XINCREF(entry);
    Py_DECREF(key);
    if (entry == NULL) {
        if (PyErr_Occurred() ||
            (entry = PyObject_CallFunctionObjArgs(self->resolve, typename, path, NULL)) == NULL)
            return -1;
    }
    long long off = -1, size = -1;
    if (PyTuple_Check(entry) && PyTuple_GET_SIZE(entry) == 2) {
        off = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 0));
        size = off == -1 && PyErr_Occurred() ? -1 : PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 1));
    }
    Py_DECREF(entry);
    if (PyErr_Occurred())
        return -1;
    if (!(size == 1 || size == 2 || size == 4 || size == 8)) {
        PyErr_SetString(PyExc_TypeError, "a member's (offset, size) is not of a scalar");
        return -1;
    }
    *width = (int)size;
    PyObject *o = PyLong_FromLongLong(off);
    if (o == NULL)
        return -1;
    *vaddr = PyNumber_Add(addr_obj, o);  /* addr += off, whatever addr is */
    Py_DECREF(o);
    return *vaddr == NULL ? -1 : 0;
}

/* Where get/set of args (addr, typename, path, ...) land: 0 with *paddr (and *obj, a
 * new reference, when that is no C number), *width; -1 on error. */
static int
ram_member_at(RamObject *self, PyObject *const *args, long long *paddr, PyObject **obj,
              int *width)
{
    PyObject *vaddr;
    if (ram_member(self, args[0], args[1], args[2], &vaddr, width) < 0)
        return -1;
    int r = kernel_phys(self, vaddr, paddr, obj);
    Py_DECREF(vaddr);
    return r < 0 ? -1 : 0;
}

static PyObject *
ram_get(RamObject *self, PyObject *const *args)
{
    PyObject *obj;
    int width;
    long long paddr;
    if (ram_member_at(self, args, &paddr, &obj, &width) < 0)
        return NULL;
    PyObject *v = ram_load(self, paddr, obj, width);
    Py_XDECREF(obj);
    return v;
}

static PyObject *
ram_set(RamObject *self, PyObject *const *args)
{
    PyObject *obj;
    int width;
    long long paddr;
    if (ram_member_at(self, args, &paddr, &obj, &width) < 0)
        return NULL;
    PyObject *v = NULL;
    unsigned long long value = PyLong_AsUnsignedLongLongMask(args[3]);
    if (!(value == (unsigned long long)-1 && PyErr_Occurred())) {
        if (width < 8)
            value &= (1ULL << (8 * width)) - 1;
        v = ram_store(self, paddr, obj, value, width);
    }
    Py_XDECREF(obj);
    return v;
}

static PyObject *
RamOp_vectorcall(RamOpObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    static const int arity[15] = {1, 1, 1, 1, 2, 2, 2, 2, 1, 2, 2, 2, 3, 4, 2};
    int op = self->op, want = arity[op];
    if (nargs != want || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_Format(PyExc_TypeError, "%s takes %d positional arguments (%zd given)", OP_NAMES[op],
                     want, nargs);
        return NULL;
    }
    static const int width[8] = {1, 2, 4, 8, 1, 2, 4, 8};
    if (op < 4)
        return load_method(self->ram, args[0], width[op]);
    if (op < 8)
        return store_method(self->ram, args, width[op]);
    switch (op) {
    case 8:
        return ram_r32(self->ram, args[0]);
    case 9:
        return ram_w32(self->ram, args);
    case 10:
        return ram_read(self->ram, args);
    case 11:
        return ram_write(self->ram, args);
    case 12:
        return ram_get(self->ram, args);
    case 13:
        return ram_set(self->ram, args);
    default:
        return ram_read_into_method(self->ram, args);
    }
}

static PyObject *
RamOp_reduce(RamOpObject *self, PyObject *unused)
{
    /* getattr(ram, name): a copy of the Ram gives the same operation of the copy */
    PyObject *builtins = PyEval_GetBuiltins();
    PyObject *getattr_fn = builtins ? PyDict_GetItemString(builtins, "getattr") : NULL;
    if (getattr_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no builtin getattr");
        return NULL;
    }
    return Py_BuildValue("(O(Os))", getattr_fn, (PyObject *)self->ram, OP_NAMES[self->op]);
}

static int
RamOp_traverse(RamOpObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->ram);
    return 0;
}

static int
RamOp_clear(RamOpObject *self)
{
    Py_CLEAR(self->ram);
    return 0;
}

static void
RamOp_dealloc(RamOpObject *self)
{
    PyObject_GC_UnTrack(self);
    RamOp_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
RamOp_repr(RamOpObject *self)
{
    return PyUnicode_FromFormat("<Ram.%s>", OP_NAMES[self->op]);
}

static PyMethodDef RamOp_methods[] = {
    {"__reduce__", (PyCFunction)RamOp_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RamOpType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._simspeedups.RamOp",
    .tp_basicsize = sizeof(RamOpObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "One load or store of a Ram.",
    .tp_vectorcall_offset = offsetof(RamOpObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_dealloc = (destructor)RamOp_dealloc,
    .tp_traverse = (traverseproc)RamOp_traverse,
    .tp_clear = (inquiry)RamOp_clear,
    .tp_repr = (reprfunc)RamOp_repr,
    .tp_methods = RamOp_methods,
};

static PyObject *
Ram_op(RamObject *self, void *closure)
{
    return Py_NewRef(self->ops[(intptr_t)closure]);
}

static PyObject *
Ram_reduce(RamObject *self, PyObject *unused)
{
    return Py_BuildValue("(O(OLO)(LOOOO))", (PyObject *)Py_TYPE(self), self->pages, self->size,
                         self->check, self->high_memory,
                         self->recorder ? self->recorder : Py_None,
                         self->phys ? self->phys : Py_None,
                         self->widths ? self->widths : Py_None,
                         self->resolve ? self->resolve : Py_None);
}

static PyObject *
Ram_setstate(RamObject *self, PyObject *state)
{
    long long high;
    PyObject *recorder, *phys, *widths, *resolve;
    if (!PyArg_ParseTuple(state, "LOOOO:__setstate__", &high, &recorder, &phys, &widths, &resolve))
        return NULL;
    /* get/set look members up in widths (a dict) and ask resolve() on a miss: both or
     * neither, as direct_map() sets them */
    if ((widths == Py_None) != (resolve == Py_None)
        || (widths != Py_None && !PyDict_Check(widths))) {
        PyErr_SetString(PyExc_TypeError,
                        "Ram.__setstate__: widths (a dict) and resolve, or neither");
        return NULL;
    }
    self->high_memory = high;
    Py_XSETREF(self->recorder, recorder == Py_None ? NULL : Py_NewRef(recorder));
    Py_XSETREF(self->phys, phys == Py_None ? NULL : Py_NewRef(phys));
    Py_XSETREF(self->widths, widths == Py_None ? NULL : Py_NewRef(widths));
    Py_XSETREF(self->resolve, resolve == Py_None ? NULL : Py_NewRef(resolve));
    Py_RETURN_NONE;
}

static PyObject *
Ram_direct_map(RamObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "direct_map(high_memory, phys, widths: dict, resolve)");
        return NULL;
    }
    long long high = PyLong_AsLongLong(args[0]);
    if (high == -1 && PyErr_Occurred())
        return NULL;
    self->high_memory = high;
    Py_XSETREF(self->phys, Py_NewRef(args[1]));
    Py_XSETREF(self->widths, Py_NewRef(args[2]));
    Py_XSETREF(self->resolve, Py_NewRef(args[3]));
    Py_RETURN_NONE;
}

static PyObject *
Ram_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *pages, *check;
    long long size;
    static char *kwlist[] = {"pages", "size", "check", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!LO:Ram", kwlist, &PyDict_Type, &pages, &size,
                                     &check))
        return NULL;
    /* a load or store inside one page checks only where it starts: the end of RAM is
     * the end of a page (as PhysMem requires) */
    if (size < 0 || size % 4096) {
        PyErr_SetString(PyExc_ValueError, "Ram: the size must be a whole number of pages");
        return NULL;
    }
    RamObject *self = (RamObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->pages = Py_NewRef(pages);
    self->size = size;
    self->check = Py_NewRef(check);
    for (int i = 0; i < 15; i++) {
        RamOpObject *op = PyObject_GC_New(RamOpObject, &RamOpType);
        if (op == NULL) {
            Py_DECREF(self);
            return NULL;
        }
        op->vectorcall = (vectorcallfunc)RamOp_vectorcall;
        op->ram = (RamObject *)Py_NewRef(self);
        op->op = i;
        PyObject_GC_Track(op);
        self->ops[i] = (PyObject *)op;
    }
    return (PyObject *)self;
}

static int
Ram_traverse(RamObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->pages);
    Py_VISIT(self->recorder);
    Py_VISIT(self->check);
    Py_VISIT(self->phys);
    Py_VISIT(self->widths);
    Py_VISIT(self->resolve);
    for (int i = 0; i < 15; i++)
        Py_VISIT(self->ops[i]);
    return 0;
}

static int
Ram_clear(RamObject *self)
{
    Py_CLEAR(self->pages);
    Py_CLEAR(self->recorder);
    Py_CLEAR(self->check);
    Py_CLEAR(self->phys);
    Py_CLEAR(self->widths);
    Py_CLEAR(self->resolve);
    for (int i = 0; i < 15; i++)
        Py_CLEAR(self->ops[i]);
    return 0;
}

static void
Ram_dealloc(RamObject *self)
{
    PyObject_GC_UnTrack(self);
    Ram_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Ram_get_recorder(RamObject *self, void *closure)
{
    return Py_NewRef(self->recorder ? self->recorder : Py_None);
}

static int
Ram_set_recorder(RamObject *self, PyObject *value, void *closure)
{
    Py_XSETREF(self->recorder, (value == NULL || value == Py_None) ? NULL : Py_NewRef(value));
    return 0;
}

static PyMethodDef Ram_methods[] = {
    {"direct_map", (PyCFunction)(void (*)(void))Ram_direct_map, METH_FASTCALL,
     "direct_map(high_memory, phys, widths, resolve): where r32/w32/get/set read the direct\n"
     "map, what maps the rest, and the members' (offset, size) by (type name, path)"},
    {"__reduce__", (PyCFunction)Ram_reduce, METH_NOARGS, NULL},
    {"__setstate__", (PyCFunction)Ram_setstate, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Ram_getset[] = {
    {"recorder", (getter)Ram_get_recorder, (setter)Ram_set_recorder, "told of each store", NULL},
    {"read_u8", (getter)Ram_op, NULL, "read_u8(paddr)", (void *)0},
    {"read_u16", (getter)Ram_op, NULL, "read_u16(paddr)", (void *)1},
    {"read_u32", (getter)Ram_op, NULL, "read_u32(paddr)", (void *)2},
    {"read_u64", (getter)Ram_op, NULL, "read_u64(paddr)", (void *)3},
    {"write_u8", (getter)Ram_op, NULL, "write_u8(paddr, value)", (void *)4},
    {"write_u16", (getter)Ram_op, NULL, "write_u16(paddr, value)", (void *)5},
    {"write_u32", (getter)Ram_op, NULL, "write_u32(paddr, value)", (void *)6},
    {"write_u64", (getter)Ram_op, NULL, "write_u64(paddr, value)", (void *)7},
    {"r32", (getter)Ram_op, NULL, "r32(vaddr): KernelMemory.r32", (void *)8},
    {"w32", (getter)Ram_op, NULL, "w32(vaddr, value): KernelMemory.w32", (void *)9},
    {"read", (getter)Ram_op, NULL, "read(paddr, n) -> bytes", (void *)10},
    {"write", (getter)Ram_op, NULL, "write(paddr, data)", (void *)11},
    {"get", (getter)Ram_op, NULL, "get(addr, typename, path): KernelMemory.get", (void *)12},
    {"set", (getter)Ram_op, NULL, "set(addr, typename, path, value): KernelMemory.set", (void *)13},
    {"read_into", (getter)Ram_op, NULL, "read_into(paddr, out): read(paddr, len) into out",
     (void *)14},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject RamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._simspeedups.Ram",
    .tp_basicsize = sizeof(RamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Ram(pages, size, check): PhysMem's reads, writes, scalar loads and stores "
              "(vmintro/sim/physmem.py holds their Python form).",
    .tp_new = Ram_new,
    .tp_dealloc = (destructor)Ram_dealloc,
    .tp_traverse = (traverseproc)Ram_traverse,
    .tp_clear = (inquiry)Ram_clear,
    .tp_methods = Ram_methods,
    .tp_getset = Ram_getset,
};

/* ---- KernelCall: vmintro/sim/errors.py's kernel_function wrapper (its Python form)
 *
 * A simulator function marked as the kernel's ``name``: while a tracer listens
 * (the list ``tracers`` is not empty) ``name`` is on the list ``path`` during the
 * call; a PageFault out of a function that is not inline goes to ``claim(e, name)``,
 * which raises it as this function's oops (or as it was, when a function it called
 * claimed it). Bound as a method where it is a class attribute, as a function is. */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *fn, *name, *tracers, *path, *fault, *claim, *dict;
} KernelCallObject;

/* The PageFault in flight, out of kernel function ``name``, handed to claim(e, name),
 * which raises it as that function's oops (or as it was): NULL with that error. */
static PyObject *
claim_fault(PyObject *claim, PyObject *name)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyErr_NormalizeException(&et, &ev, &tb);
    if (tb != NULL)
        PyException_SetTraceback(ev, tb);
    PyObject *again = PyObject_CallFunctionObjArgs(claim, ev, name, NULL);
    Py_XDECREF(et);
    Py_XDECREF(ev);
    Py_XDECREF(tb);
    if (again != NULL) {  /* claim always raises */
        Py_DECREF(again);
        PyErr_SetString(PyExc_RuntimeError, "kernel_function's claim did not raise");
    }
    return NULL;
}

static PyObject *
KernelCall_vectorcall(KernelCallObject *self, PyObject *const *args, size_t nargsf,
                      PyObject *kwnames)
{
    PyObject *r;
    if (PyList_GET_SIZE(self->tracers) == 0) {
        r = PyObject_Vectorcall(self->fn, args, nargsf, kwnames);
    } else {
        if (PyList_Append(self->path, self->name) < 0)
            return NULL;
        r = PyObject_Vectorcall(self->fn, args, nargsf, kwnames);
        /* finally: CALL_PATH.pop() */
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        Py_ssize_t n = PyList_GET_SIZE(self->path);
        if (n == 0 || PyList_SetSlice(self->path, n - 1, n, NULL) < 0) {
            Py_XDECREF(et);
            Py_XDECREF(ev);
            Py_XDECREF(tb);
            Py_XDECREF(r);
            if (n == 0)
                PyErr_SetString(PyExc_IndexError, "pop from empty list");
            return NULL;
        }
        PyErr_Restore(et, ev, tb);
    }
    if (r == NULL && self->fault != NULL && PyErr_ExceptionMatches(self->fault))
        return claim_fault(self->claim, self->name);
    return r;
}

static PyObject *
KernelCall_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *fn, *name, *tracers, *path, *fault, *claim;
    static char *kwlist[] = {"fn", "name", "tracers", "path", "fault", "claim", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OUO!O!OO:KernelCall", kwlist, &fn, &name,
                                     &PyList_Type, &tracers, &PyList_Type, &path, &fault, &claim))
        return NULL;
    KernelCallObject *self = (KernelCallObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = (vectorcallfunc)KernelCall_vectorcall;
    self->fn = Py_NewRef(fn);
    self->name = Py_NewRef(name);
    self->tracers = Py_NewRef(tracers);
    self->path = Py_NewRef(path);
    self->fault = fault == Py_None ? NULL : Py_NewRef(fault);
    self->claim = Py_NewRef(claim);
    return (PyObject *)self;
}

static int
KernelCall_traverse(KernelCallObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fn);
    Py_VISIT(self->name);
    Py_VISIT(self->tracers);
    Py_VISIT(self->path);
    Py_VISIT(self->fault);
    Py_VISIT(self->claim);
    Py_VISIT(self->dict);
    return 0;
}

static int
KernelCall_clear(KernelCallObject *self)
{
    Py_CLEAR(self->fn);
    Py_CLEAR(self->name);
    Py_CLEAR(self->tracers);
    Py_CLEAR(self->path);
    Py_CLEAR(self->fault);
    Py_CLEAR(self->claim);
    Py_CLEAR(self->dict);
    return 0;
}

static void
KernelCall_dealloc(KernelCallObject *self)
{
    PyObject_GC_UnTrack(self);
    KernelCall_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
KernelCall_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static PyObject *
KernelCall_repr(KernelCallObject *self)
{
    return PyUnicode_FromFormat("<kernel function %U>", self->name);
}

static PyGetSetDef KernelCall_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef KernelCall_members[] = {
    {"kernel_name", T_OBJECT_EX, offsetof(KernelCallObject, name), READONLY, "the kernel's name"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject KernelCallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vmintro._simspeedups.KernelCall",
    .tp_basicsize = sizeof(KernelCallObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "KernelCall(fn, name, tracers, path, fault, claim): kernel_function's wrapper "
              "(vmintro/sim/errors.py holds its Python form).",
    .tp_new = KernelCall_new,
    .tp_vectorcall_offset = offsetof(KernelCallObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = KernelCall_get,
    .tp_dictoffset = offsetof(KernelCallObject, dict),
    .tp_dealloc = (destructor)KernelCall_dealloc,
    .tp_traverse = (traverseproc)KernelCall_traverse,
    .tp_clear = (inquiry)KernelCall_clear,
    .tp_repr = (reprfunc)KernelCall_repr,
    .tp_getset = KernelCall_getset,
    .tp_members = KernelCall_members,
};

/* ---- The buddy allocator's rmqueue and __free_pages_ok's merge: vmintro/sim/buddy.py's
 * Buddy.rmqueue (with expand) and the merge loop of Buddy.free_pages_ok, their Python
 * forms, which define what these do.
 *
 * Every word is read and written through the same loads and stores as the Python
 * form's r32/w32 (KernelMemory's, the direct map inline and phys() for the rest) and
 * read_u8/write_u8 (the buddy bitmaps' bytes), in the same order, so the recorder
 * hears the same writes; while a tracer listens, the inline functions the Python form
 * calls (list_del, list_add, expand) are on the call path around their writes as
 * kernel_function puts them there. Addresses are Python ints there: here they are C
 * numbers, with floor division and shifts as Python's; every one is a 32-bit word
 * plus offsets, far inside a long long. */

typedef struct {
    RamObject *ram;
    PyObject *tracers, *path;
    long long zone_table, o_flags, o_list, o_count, o_mem_map, o_free_area, o_free_pages,
        o_map, area_size, psize, zone_shift, max_order;
} BuddyArgs;

#define BUDDY_CONSTS 12

static long long
floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static long long
floor_shift(long long a, int n)
{
    return a >= 0 ? a >> n : -((-a - 1) >> n) - 1;
}

/* r32(vaddr): the direct map's word inline, anything else as Ram.r32 reaches it */
static int
b_r32(BuddyArgs *b, long long vaddr, long long *out)
{
    RamObject *ram = b->ram;
    long long paddr = vaddr - (long long)PAGE_OFFSET;
    if ((long long)PAGE_OFFSET <= vaddr && vaddr < ram->high_memory && (paddr & 0xFFF) <= 4092 &&
        paddr < ram->size) {
        unsigned char *page;
        if (ram_page(ram, paddr >> 12, 0, &page) < 0)
            return -1;
        *out = page ? (long long)get_le(page + (paddr & 0xFFF), 4) : 0;
        return 0;
    }
    PyObject *o = PyLong_FromLongLong(vaddr);
    if (o == NULL)
        return -1;
    PyObject *v = ram_r32(ram, o);
    Py_DECREF(o);
    if (v == NULL)
        return -1;
    *out = (long long)PyLong_AsUnsignedLongLong(v);
    Py_DECREF(v);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* w32(vaddr, value), as Ram.w32 does it */
static int
b_w32(BuddyArgs *b, long long vaddr, long long value)
{
    RamObject *ram = b->ram;
    PyObject *v;
    long long paddr = vaddr - (long long)PAGE_OFFSET;
    if ((long long)PAGE_OFFSET <= vaddr && vaddr < ram->high_memory) {
        v = ram_store(ram, paddr, NULL, (unsigned long long)value & MASK32, 4);
    } else {
        PyObject *args[2] = {PyLong_FromLongLong(vaddr), PyLong_FromLongLong(value)};
        v = args[0] && args[1] ? ram_w32(ram, args) : NULL;
        Py_XDECREF(args[0]);
        Py_XDECREF(args[1]);
    }
    if (v == NULL)
        return -1;
    Py_DECREF(v);
    return 0;
}

/* While a tracer listens, ``name`` on the call path (1), else nothing (0); -1 on error. */
static PyObject *LIST_ADD, *LIST_DEL, *EXPAND, *RMQUEUE;  /* the names, made at import */

static int
b_enter(BuddyArgs *b, PyObject *name)
{
    if (PyList_GET_SIZE(b->tracers) == 0)
        return 0;
    return PyList_Append(b->path, name) < 0 ? -1 : 1;
}

/* The call path's last name off again (entered: what b_enter returned), an error in
 * flight kept; returns ok, or -1 when the pop failed. */
static int
b_leave(BuddyArgs *b, int entered, int ok)
{
    if (entered <= 0)
        return ok;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    Py_ssize_t n = PyList_GET_SIZE(b->path);
    if (n == 0 || PyList_SetSlice(b->path, n - 1, n, NULL) < 0) {
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
        if (n == 0)
            PyErr_SetString(PyExc_IndexError, "pop from empty list");
        return -1;
    }
    PyErr_Restore(et, ev, tb);
    return ok;
}

/* Buddy.list_add */
static int
b_list_add(BuddyArgs *b, long long new, long long head)
{
    int entered = b_enter(b, LIST_ADD);
    if (entered < 0)
        return -1;
    long long nxt;
    int ok = (b_r32(b, head, &nxt) < 0 || b_w32(b, nxt + 4, new) < 0 || b_w32(b, new, nxt) < 0 ||
              b_w32(b, new + 4, head) < 0 || b_w32(b, head, new) < 0)
                 ? -1
                 : 0;
    return b_leave(b, entered, ok);
}

/* Buddy.list_del */
static int
b_list_del(BuddyArgs *b, long long entry)
{
    int entered = b_enter(b, LIST_DEL);
    if (entered < 0)
        return -1;
    long long nxt, prev;
    int ok = (b_r32(b, entry, &nxt) < 0 || b_r32(b, entry + 4, &prev) < 0 ||
              b_w32(b, nxt + 4, prev) < 0 || b_w32(b, prev, nxt) < 0 || b_w32(b, entry, 0) < 0 ||
              b_w32(b, entry + 4, 0) < 0)
                 ? -1
                 : 0;
    return b_leave(b, entered, ok);
}

/* Buddy._change_bit: the old bit in *old */
static int
b_change_bit(BuddyArgs *b, long long zone, long long order, long long index, int *old)
{
    long long bitmap;
    if (b_r32(b, zone + b->o_free_area + b->o_map + order * b->area_size, &bitmap) < 0)
        return -1;
    long long a = bitmap + floor_shift(index, 3) - (long long)PAGE_OFFSET;
    PyObject *v = ram_load(b->ram, a, NULL, 1);
    if (v == NULL)
        return -1;
    long long byte = PyLong_AsLongLong(v);
    Py_DECREF(v);
    if (byte == -1 && PyErr_Occurred())
        return -1;
    int bit = (int)(index & 7);
    v = ram_store(b->ram, a, NULL, (unsigned long long)(byte ^ (1LL << bit)) & 0xFF, 1);
    if (v == NULL)
        return -1;
    Py_DECREF(v);
    *old = (int)(byte >> bit & 1);
    return 0;
}

/* Buddy.expand: the order-low page left in *out */
static int
b_expand(BuddyArgs *b, long long zone, long long page, long long index, long long low,
         long long high, long long *out)
{
    int entered = b_enter(b, EXPAND);
    if (entered < 0)
        return -1;
    long long size = 1LL << high;
    int ok = 0, old;
    while (high > low) {
        high--;
        size >>= 1;
        if (b_list_add(b, page + b->o_list, zone + b->o_free_area + high * b->area_size) < 0 ||
            b_change_bit(b, zone, high, floor_shift(index, (int)(1 + high)), &old) < 0) {
            ok = -1;
            break;
        }
        index += size;
        page += size * b->psize;
    }
    *out = page;
    return b_leave(b, entered, ok);
}

/* (ram, tracers, path, consts, a, order): the arguments both functions take */
static int
buddy_args(PyObject *const *args, Py_ssize_t nargs, const char *name, BuddyArgs *b, long long *a,
           long long *order)
{
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "%s takes 6 arguments (%zd given)", name, nargs);
        return -1;
    }
    if (!PyObject_TypeCheck(args[0], &RamType) || !PyList_Check(args[1]) ||
        !PyList_Check(args[2]) || !PyTuple_Check(args[3]) ||
        PyTuple_GET_SIZE(args[3]) != BUDDY_CONSTS) {
        PyErr_Format(PyExc_TypeError, "%s(ram, tracers: list, path: list, consts: tuple of %d, "
                     "address, order)", name, BUDDY_CONSTS);
        return -1;
    }
    b->ram = (RamObject *)args[0];
    b->tracers = args[1];
    b->path = args[2];
    long long c[BUDDY_CONSTS];
    for (int i = 0; i < BUDDY_CONSTS; i++) {
        c[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(args[3], i));
        if (c[i] == -1 && PyErr_Occurred())
            return -1;
    }
    b->zone_table = c[0], b->o_flags = c[1], b->o_list = c[2], b->o_count = c[3];
    b->o_mem_map = c[4], b->o_free_area = c[5], b->o_free_pages = c[6], b->o_map = c[7];
    b->area_size = c[8], b->psize = c[9], b->zone_shift = c[10], b->max_order = c[11];
    *a = PyLong_AsLongLong(args[4]);
    if (*a == -1 && PyErr_Occurred())
        return -1;
    *order = PyLong_AsLongLong(args[5]);
    if (*order == -1 && PyErr_Occurred())
        return -1;
    /* what the callers hand over: 32-bit addresses, orders below MAX_ORDER, sane sizes */
    if (*a < 0 || *a > (long long)MASK32 || *order < 0 || b->max_order < 1 ||
        b->max_order > 20 || *order >= b->max_order || b->psize <= 0 || b->psize > 4096 ||
        b->zone_shift < 0 || b->zone_shift > 31 || b->area_size < 0 || b->area_size > 4096) {
        PyErr_Format(PyExc_ValueError, "%s: an address, order or constant out of range", name);
        return -1;
    }
    for (int i = 0; i < 9; i++) {
        if (c[i] < 0 || c[i] > (long long)MASK32) {
            PyErr_Format(PyExc_ValueError, "%s: an offset out of range", name);
            return -1;
        }
    }
    return 0;
}

PyDoc_STRVAR(buddy_rmqueue_doc,
"buddy_rmqueue(ram, tracers, path, consts, zone, order) -> page or None\n\n"
"Buddy.rmqueue(zone, order) of vmintro/sim/buddy.py, its Python form: consts are\n"
"(zone_table, page.flags, page.list, page.count, zone.zone_mem_map, zone.free_area,\n"
"zone.free_pages, free_area.map, sizeof(free_area_t), sizeof(struct page), ZONE_SHIFT,\n"
"MAX_ORDER); tracers and path are kernel_function's.");

/* Buddy.rmqueue's body: 1 with *page, 0 when no list has a block, -1 on error */
static int
b_rmqueue(BuddyArgs *b, long long zone, long long order, long long *page)
{
    long long base;
    if (b_r32(b, zone + b->o_mem_map, &base) < 0)
        return -1;
    long long area = zone + b->o_free_area;
    for (long long cur = order; cur < b->max_order; cur++) {
        long long head = area + cur * b->area_size, curr;
        if (b_r32(b, head, &curr) < 0)
            return -1;
        if (curr == head)
            continue;
        long long free_pages;
        *page = curr - b->o_list;
        if (b_list_del(b, curr) < 0)
            return -1;
        long long index = floor_div(*page - base, b->psize);
        int old;
        if (cur != b->max_order - 1 &&
            b_change_bit(b, zone, cur, floor_shift(index, (int)(1 + cur)), &old) < 0)
            return -1;
        long long fp = zone + b->o_free_pages;
        if (b_r32(b, fp, &free_pages) < 0 || b_w32(b, fp, free_pages - (1LL << order)) < 0)
            return -1;
        if (b_expand(b, zone, *page, index, order, cur, page) < 0 ||
            b_w32(b, *page + b->o_count, 1) < 0)
            return -1;
        return 1;
    }
    return 0;
}

static PyObject *
buddy_rmqueue(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    BuddyArgs b;
    long long zone, order, page;
    if (buddy_args(args, nargs, "buddy_rmqueue", &b, &zone, &order) < 0)
        return NULL;
    int r = b_rmqueue(&b, zone, order, &page);
    if (r < 0)
        return NULL;
    if (r == 0)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(page);
}

PyDoc_STRVAR(buddy_alloc_doc,
"buddy_alloc(ram, tracers, path, consts, zonelist, order, o_mark, claim, fault)\n"
"-> page, None or False\n\n"
"Buddy.alloc_pages' Python form as far as its first watermark pass: the zones of the\n"
"zonelist at ``zonelist`` (None: it has none), then the first whose free pages exceed\n"
"1 << order plus the zones' member at o_mark so far gives the block, rmqueue called as\n"
"kernel_function calls it (on the call path while a tracer listens; a ``fault`` out of\n"
"it claimed through ``claim``); False when none did, for the caller to go on.");

static PyObject *
buddy_alloc(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    BuddyArgs b;
    long long zl, order;
    if (nargs != 9 || !PyLong_Check(args[6]) || !PyExceptionClass_Check(args[8])) {
        PyErr_SetString(PyExc_TypeError, "buddy_alloc(ram, tracers, path, consts, zonelist, "
                        "order, o_mark: int, claim, fault: an exception class)");
        return NULL;
    }
    if (buddy_args(args, 6, "buddy_alloc", &b, &zl, &order) < 0)
        return NULL;
    long long o_mark = PyLong_AsLongLong(args[6]);
    if (o_mark == -1 && PyErr_Occurred())
        return NULL;
    if (o_mark < 0 || o_mark > 4096) {
        PyErr_SetString(PyExc_ValueError, "buddy_alloc: o_mark out of range");
        return NULL;
    }
    long long zones[4], n = 0;  /* MAX_NR_ZONES + 1 entries, the last NULL */
    for (; n < 4; n++) {
        if (b_r32(&b, zl + 4 * n, &zones[n]) < 0)
            return NULL;
        if (!zones[n])
            break;
    }
    if (n == 0)
        Py_RETURN_NONE;
    long long need = 1LL << order;
    for (long long i = 0; i < n; i++) {
        long long mark, free_pages, page = 0;
        if (b_r32(&b, zones[i] + o_mark, &mark) < 0 ||
            b_r32(&b, zones[i] + b.o_free_pages, &free_pages) < 0)
            return NULL;
        need += mark;
        if (free_pages <= need)
            continue;
        int entered = b_enter(&b, RMQUEUE);  /* rmqueue, as kernel_function calls it */
        if (entered < 0)
            return NULL;
        int r = b_leave(&b, entered, b_rmqueue(&b, zones[i], order, &page));
        if (r < 0) {
            if (PyErr_ExceptionMatches(args[8]))
                return claim_fault(args[7], RMQUEUE);
            return NULL;
        }
        if (r && page)
            return PyLong_FromLongLong(page);
    }
    Py_RETURN_FALSE;
}

PyDoc_STRVAR(buddy_free_doc,
"buddy_free(ram, tracers, path, consts, page, order) -> bool\n\n"
"Buddy.free_pages_ok's Python form from zone = page_zone(page) on: the block freed,\n"
"merged with its free buddies (True), or False when page_idx is not aligned to the\n"
"order, before anything is written (the caller's BUG()). consts: buddy_rmqueue's.");

static PyObject *
buddy_free(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    BuddyArgs b;
    long long page, order;
    if (buddy_args(args, nargs, "buddy_free", &b, &page, &order) < 0)
        return NULL;
    long long flags, zone, base, free_pages;
    if (b_r32(&b, page + b.o_flags, &flags) < 0 ||
        b_r32(&b, b.zone_table + 4 * (flags >> b.zone_shift), &zone) < 0 ||
        b_r32(&b, zone + b.o_mem_map, &base) < 0)
        return NULL;
    long long page_idx = floor_div(page - base, b.psize);
    if (page_idx & ((1LL << order) - 1))
        Py_RETURN_FALSE;
    long long fp = zone + b.o_free_pages;
    if (b_r32(&b, fp, &free_pages) < 0 || b_w32(&b, fp, free_pages + (1LL << order)) < 0)
        return NULL;
    while (order < b.max_order - 1) {
        int old;
        if (b_change_bit(&b, zone, order, floor_shift(page_idx, (int)(1 + order)), &old) < 0)
            return NULL;
        if (!old)
            break;  /* the buddy is still allocated */
        long long buddy = base + (page_idx ^ (1LL << order)) * b.psize;
        if (b_list_del(&b, buddy + b.o_list) < 0)
            return NULL;
        order++;
        page_idx &= ~((1LL << order) - 1);
    }
    if (b_list_add(&b, base + page_idx * b.psize + b.o_list,
                   zone + b.o_free_area + order * b.area_size) < 0)
        return NULL;
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"walk_vmlist", (PyCFunction)(void (*)(void))walk_vmlist, METH_FASTCALL, walk_vmlist_doc},
    {"buddy_rmqueue", (PyCFunction)(void (*)(void))buddy_rmqueue, METH_FASTCALL,
     buddy_rmqueue_doc},
    {"buddy_free", (PyCFunction)(void (*)(void))buddy_free, METH_FASTCALL, buddy_free_doc},
    {"buddy_alloc", (PyCFunction)(void (*)(void))buddy_alloc, METH_FASTCALL, buddy_alloc_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "vmintro._simspeedups",
    "The simulator's hot paths in C: vmlist walks (vmintro/sim/vmalloc.py), RAM's scalar loads and\n"
    "stores (vmintro/sim/physmem.py), the write log (vmintro/sim/recorder.py) and the buddy\n"
    "allocator's rmqueue and merge (vmintro/sim/buddy.py): their Python forms.",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__simspeedups(void)
{
    if (PyType_Ready(&WriteLogType) < 0 || PyType_Ready(&RamType) < 0 ||
        PyType_Ready(&RamOpType) < 0 || PyType_Ready(&KernelCallType) < 0)
        return NULL;
    if ((LIST_ADD == NULL && (LIST_ADD = PyUnicode_InternFromString("list_add")) == NULL) ||
        (LIST_DEL == NULL && (LIST_DEL = PyUnicode_InternFromString("list_del")) == NULL) ||
        (EXPAND == NULL && (EXPAND = PyUnicode_InternFromString("expand")) == NULL) ||
        (RMQUEUE == NULL && (RMQUEUE = PyUnicode_InternFromString("rmqueue")) == NULL))
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "WriteLog", (PyObject *)&WriteLogType) < 0 ||
        PyModule_AddObjectRef(m, "Ram", (PyObject *)&RamType) < 0 ||
        PyModule_AddObjectRef(m, "KernelCall", (PyObject *)&KernelCallType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "END", END) < 0 || PyModule_AddIntConstant(m, "FOUND", FOUND) < 0 ||
        PyModule_AddIntConstant(m, "REFUSED", REFUSED) < 0 ||
        PyModule_AddIntConstant(m, "LOOPED", LOOPED) < 0 ||
        PyModule_AddIntConstant(m, "HANDED_BACK", HANDED_BACK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
