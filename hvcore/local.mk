# hvcore
