#include <cstdio>

int main() {
    std::puts("ironbridge " IB_VERSION);
    return 0;
}
