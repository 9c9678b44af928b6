/* l_plot.c — placeholder until the plot bindings land */
#include "lfm.h"
void lfm_open_plot(lua_State *L) { (void)L; }
