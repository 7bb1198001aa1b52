/* tests/plugins/no_descriptor.c - a shared object with no descriptor. */
int no_descriptor_here(void);
int no_descriptor_here(void)
{
    return 42;
}
