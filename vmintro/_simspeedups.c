/* vmintro._simspeedups: the simulator's walks of vmlist, in C.
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
#include <stdint.h>

#define PAGE_OFFSET 0xC0000000ULL
#define MASK32 0xFFFFFFFFULL

/* How a walk ended: the Python form's names for the same exits. */
enum { END = 0, FOUND = 1, REFUSED = 2, LOOPED = 3, HANDED_BACK = 4 };

typedef struct {
    PyObject *stored;          /* pfn -> bytearray */
    unsigned long long lo, last_node, in_page;
    long long cached_pfn;      /* the page read last: nodes of one slab share it */
    const unsigned char *cached;
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
    if (pfn != ram->cached_pfn) {
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
        ram->cached = value ? (const unsigned char *)PyByteArray_AS_STRING(value) : NULL;
        ram->cached_pfn = pfn;
    }
    *page = ram->cached;
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
    Ram ram = {args[0], PAGE_OFFSET, a[2], a[3], -1, NULL};
    Walk w = {a[10], a[11], a[12], a[13], a[14], a[15], a[16]};
    long long limit = (long long)a[9] - (long long)a[8];  /* VMALLOC_END - size: may be < 0 */
    int how = walk(&ram, a[1] != 0, a[4] * 4, a[5] * 4, a[6] * 4, a[7], a[8], limit, &w);
    if (how < 0)
        return NULL;
    return Py_BuildValue("(iKKKKKKK)", how, w.link, w.tmp, w.addr, w.mark, w.mark_addr, w.steps,
                         w.power);
}

static PyMethodDef methods[] = {
    {"walk_vmlist", (PyCFunction)(void (*)(void))walk_vmlist, METH_FASTCALL, walk_vmlist_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "vmintro._simspeedups",
    "The simulator's walks of vmlist in C (see vmintro/sim/vmalloc.py for their Python form).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__simspeedups(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddIntConstant(m, "END", END) < 0 || PyModule_AddIntConstant(m, "FOUND", FOUND) < 0 ||
        PyModule_AddIntConstant(m, "REFUSED", REFUSED) < 0 ||
        PyModule_AddIntConstant(m, "LOOPED", LOOPED) < 0 ||
        PyModule_AddIntConstant(m, "HANDED_BACK", HANDED_BACK) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
