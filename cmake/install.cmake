# What `cmake --install` puts in place (GNU install directories; DESTDIR
# is honoured):
#   bin/            dmsec, dmsec-server, dmsec-client
#   lib/            libdmsec.so.X.Y.Z (soname libdmsec.so.X), libdmsec.so, libdmsec.a
#   include/dmsec/  the public headers of libdmsec and the generated version.h
#   lib/pkgconfig/  dmsec.pc
#   lib/cmake/dmsec dmsecConfig.cmake, its version file, dmsecTargets*.cmake
#   systemd units   dmsec-server.service, dmsec-client.service (DMSEC_SYSTEMD_UNITDIR)
#   SYSCONFDIR/dmsec/dmsec-server.conf  the server's default config (/etc with prefix /usr)
include(CMakePackageConfigHelpers)

# Where the units go: systemd's own directory when installing into /usr
# (what the distribution's systemd.pc says), else PREFIX/lib/systemd/system
# (which systemd searches for /usr/local).
set(_dmsec_unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  pkg_get_variable(_dmsec_sd_unitdir systemd systemdsystemunitdir)
  if(_dmsec_sd_unitdir)
    set(_dmsec_unitdir "${_dmsec_sd_unitdir}")
  endif()
endif()
set(DMSEC_SYSTEMD_UNITDIR "${_dmsec_unitdir}" CACHE PATH "Where the systemd units are installed")
option(DMSEC_INSTALL_SYSTEMD "Install the systemd units" ON)

# Programs.
set(_dmsec_programs dmsec_tool)
foreach(t dmsec_server dmsec_client)
  if(TARGET ${t})
    list(APPEND _dmsec_programs ${t})
  endif()
endforeach()
install(TARGETS ${_dmsec_programs} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The library: shared (exported as dmsec::dmsec) and static.
install(TARGETS dmsec_shared EXPORT dmsecTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS dmsec ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development)

# Public headers: those of libdmsec. store.h and dispatch.h describe the
# store and dispatch layers of the server and the tool (store/, dispatch/),
# which are not part of the library, so they are not installed.
file(GLOB _dmsec_headers ${PROJECT_SOURCE_DIR}/include/dmsec/*.h)
list(REMOVE_ITEM _dmsec_headers ${PROJECT_SOURCE_DIR}/include/dmsec/store.h
     ${PROJECT_SOURCE_DIR}/include/dmsec/dispatch.h)
install(FILES ${_dmsec_headers} ${PROJECT_BINARY_DIR}/include/dmsec/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dmsec COMPONENT Development)

# pkg-config: Libs for the shared library; Requires.private names what
# libdmsec.a needs (pkg-config --static --libs dmsec).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(DMSEC_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(DMSEC_PC_LIBDIR "\${exec_prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(DMSEC_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(DMSEC_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/dmsec.pc.in ${PROJECT_BINARY_DIR}/dmsec.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dmsec.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT Development)

# CMake package: find_package(dmsec) -> dmsec::dmsec.
set(_dmsec_cmakedir ${CMAKE_INSTALL_LIBDIR}/cmake/dmsec)
install(EXPORT dmsecTargets NAMESPACE dmsec:: DESTINATION ${_dmsec_cmakedir}
  COMPONENT Development)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/dmsecConfig.cmake.in
  ${PROJECT_BINARY_DIR}/dmsecConfig.cmake INSTALL_DESTINATION ${_dmsec_cmakedir})
# Before 1.0 a minor version may change the API: same minor only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dmsecConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/dmsecConfig.cmake ${PROJECT_BINARY_DIR}/dmsecConfigVersion.cmake
  DESTINATION ${_dmsec_cmakedir} COMPONENT Development)

# The server's default config and the systemd units, with this install's
# paths.
set(DMSEC_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/dmsec")
set(DMSEC_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")
configure_file(${PROJECT_SOURCE_DIR}/packaging/dmsec-server.conf.in
  ${PROJECT_BINARY_DIR}/packaging/dmsec-server.conf @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/packaging/dmsec-server.conf DESTINATION ${DMSEC_CONFIG_DIR}
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
if(DMSEC_INSTALL_SYSTEMD)
  foreach(unit dmsec-server.service dmsec-client.service)
    configure_file(${PROJECT_SOURCE_DIR}/packaging/${unit}.in ${PROJECT_BINARY_DIR}/packaging/${unit}
      @ONLY)
    install(FILES ${PROJECT_BINARY_DIR}/packaging/${unit} DESTINATION ${DMSEC_SYSTEMD_UNITDIR})
  endforeach()
endif()
if(DMSEC_INSTALL_SYSTEMD)
  # The units' users (systemd-sysusers reads /usr/lib/sysusers.d; for
  # another prefix run `systemd-sysusers PREFIX/lib/sysusers.d/dmsec.conf`).
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/dmsec.sysusers
    DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d RENAME dmsec.conf)
endif()

# Man pages (man/, written by hand; tests/tool/help.sh checks them against
# the option parsers).
install(FILES ${PROJECT_SOURCE_DIR}/man/dmsec.1 ${PROJECT_SOURCE_DIR}/man/dmsec-client.1
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/man/dmsec-server.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/man/dmsec.conf.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
