# hearth_add_plugin(NAME SOURCES... [LIBRARIES ...] [OUTPUT_DIRECTORY dir] [NO_INSTALL]): builds a
# plugin as a loadable module linked against libhearth, named NAME.so (no "lib" prefix), into the
# plugin directory, and installs it into hearth's plugin directory (HEARTH_PLUGIN_INSTALL_DIR:
# <prefix>/lib/hearth/plugins, where the installed libhearth looks by default). NO_INSTALL is for
# plugins that only tests load.
function(hearth_add_plugin name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES} ${ARG_UNPARSED_ARGUMENTS})
  if(TARGET Hearth::hearth)
    target_link_libraries(${name} PRIVATE Hearth::hearth ${ARG_LIBRARIES})
  else()
    target_link_libraries(${name} PRIVATE hearth ${ARG_LIBRARIES})
  endif()
  # INSTALL_RPATH: an installed plugin sits in <libdir>/hearth/plugins, two levels below libhearth
  # (the loader has libhearth loaded already; this keeps `ldd` and standalone dlopen honest).
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    INSTALL_RPATH "$ORIGIN/../..")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED HEARTH_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${HEARTH_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT ARG_NO_INSTALL AND DEFINED HEARTH_PLUGIN_INSTALL_DIR)
    install(TARGETS ${name} LIBRARY DESTINATION ${HEARTH_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
