// placeholder replaced soon
#include <stdio.h>
#include "forkless.h"
int main(void) { printf("%d\n", fl_version()); return 0; }
