#include <Python.h>

static PyObject *total(PyObject *self, PyObject *args) {
    long n, s = 0;
    if (!PyArg_ParseTuple(args, "l", &n)) return NULL;
#pragma omp parallel for reduction(+:s)
    for (long i = 0; i < n; i++) s += i;
    return PyLong_FromLong(s);
}

static PyMethodDef methods[] = {{"total", total, METH_VARARGS, "sum of range(n)"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "ompsum", NULL, -1, methods};
PyMODINIT_FUNC PyInit_ompsum(void) { return PyModule_Create(&mod); }
